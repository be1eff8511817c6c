//! MQTT transport of the HAL: signals bound to state and command topics.

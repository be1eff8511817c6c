//! D-Bus transport of the HAL: signals bound to properties or methods.

//! The Wyoming framing every worker and client reads: a JSON header line, then data and
//! payload of the lengths it names. Any bytes: an event, a clean end, or an error; never a
//! panic, and never more memory than the frame limits allow.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut reader = tokio::io::BufReader::new(data);
        let limits = edge_protocol::FrameLimits {
            max_header: 4096,
            max_data: 4096,
            max_payload: 64 * 1024,
        };
        for _ in 0..16 {
            match edge_protocol::read_event(&mut reader, limits).await {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    });
});

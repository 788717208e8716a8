//! The `parquet` fuzz target: see `whet_fuzz::targets::parquet`.
#![no_main]

use std::sync::Once;

static QUIET_CONTAINED_PANICS: Once = Once::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // whet-data contains the parquet crate's panics on damaged pages (they become errors);
    // libfuzzer-sys's hook would abort at the panic before it is contained. With the default
    // hook back, a panic that escapes whet-data still reaches libfuzzer-sys's catch and aborts.
    QUIET_CONTAINED_PANICS.call_once(|| {
        let _ = std::panic::take_hook();
        std::panic::set_hook(Box::new(|info| eprintln!("contained? {info}")));
    });
    whet_fuzz::targets::parquet(data, &whet_fuzz::scratch());
});

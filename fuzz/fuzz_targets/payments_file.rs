//! The payments-file reader must never panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recaudo_ingestion::file::{payments, ReadOptions};

fuzz_target!(|data: &[u8]| {
    let _ = payments::read(data, &ReadOptions::default(), |_| {});
});

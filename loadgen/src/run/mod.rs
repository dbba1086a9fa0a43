//! One comparison run, from targets started to summary: `compare` is its outline.

mod calibrate;
mod compare;
mod consume;
mod crosscheck;
mod end_to_end;
mod produce;
mod rounds;

pub use compare::{run, BINARY_PEER, V2_PEER};
pub use produce::NATIVE_BINARY;

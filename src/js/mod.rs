//! The napi binding: converts JavaScript values, submits jobs, settles promises. No logic of its
//! own beyond that.

pub mod abort;
pub mod call_options;
pub mod convert;
pub mod copy;
pub mod events;
pub mod inputs;
pub mod iteration;
pub mod options;
pub mod persistence_class;
pub mod pool_class;
pub mod promise;
pub mod raw;
pub mod settle;
pub mod shape;

//! Opening and configuring connections, values and parameters, row sets, SQL classification.

pub mod classify;
pub mod codes;
pub mod deadline;
pub mod ephemeral;
pub mod guard;
pub mod open;
pub mod rows;
pub mod statements;
pub mod value;

pub use rows::{Column, ColumnInfo, Form, JsonColumns, Missing, Records, RowSet};
pub use value::{Params, Value};

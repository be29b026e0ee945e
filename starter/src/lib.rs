//! What the starter's tests share: the README read as a user reads it, and
//! apps made with `scripts/new` outside the checkout.
//!
//! The tests follow the README, not their own copy of it: the commands they
//! run come from its code blocks, and the by-hand recipe is checked line by
//! line against `templates/`, which the end-to-end tests then prove.

mod app;
mod readme;

pub use app::{read, readme, App};
pub use readme::{code_blocks, dev_command, starter_commands, Block, StarterCommands};

//! The browser half: the page, which renders on the library's rayon pool on
//! Web Workers (`hotswap_runtime::pool`).

mod js;
pub mod page;

//! Moving a Rust value to another thread through a JS message.
//!
//! `postMessage` carries JS values, not Rust ones. But every thread of the
//! pool runs on the same shared wasm memory, so the address of a leaked `Box`
//! means the same thing on every thread: the sender leaks the box and posts
//! its address, the receiver takes the box back. This is the pool's only
//! unsafe code.

/// Leaks `value` into the shared memory; the returned address goes in the message.
pub(crate) fn send<T: Send>(value: T) -> u32 {
    // wasm32: a pointer is 32 bits, so the address is a JS number exactly.
    Box::into_raw(Box::new(value)) as usize as u32
}

/// Takes back the value whose address a message carried.
///
/// # Safety
///
/// `address` must come from [`send::<T>`] with the same `T`, and be taken
/// once: each message is read by the one thread it was posted to, once.
///
/// Why that is enough: the box is then live and has no other owner; the
/// memory is shared, so its address is valid on this thread too; and
/// `T: Send` lets the value change thread.
pub(crate) unsafe fn take<T: Send>(address: u32) -> T {
    // SAFETY: see above.
    *unsafe { Box::from_raw(address as usize as *mut T) }
}

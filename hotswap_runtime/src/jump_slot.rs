//! Committing a jump table through the address of subsecond's static.
//!
//! subsecond 0.7.10 keeps its table in a private `AtomicPtr` and commits only
//! inside `apply_patch`; a threaded page stores into that static itself, at
//! the address the tool read from the base's symbols (the tool's DESIGN.md,
//! 5.5). If that address is wrong, the store must not stay: it would
//! overwrite some other word of the app's memory and switch no `HotFn`.
//! Before the first patch subsecond's table is null, and a wrong address may
//! well hold a zero too, so comparing before storing proves nothing then;
//! what proves the address is subsecond reading back what was stored.

use std::sync::atomic::{AtomicPtr, Ordering};

/// Stores `new` in `cell` if it holds what `read` (subsecond's own reader)
/// returns now, then checks that `read` returns `new`. Otherwise the cell is
/// left, or put back, as it was, and `Err` says the address is not the
/// static `read` reads.
pub(crate) fn store_checked<T>(
    cell: &AtomicPtr<T>,
    new: *mut T,
    read: impl Fn() -> *const T,
) -> Result<(), NotTheSlot> {
    let before = read().cast_mut();
    cell.compare_exchange(before, new, Ordering::AcqRel, Ordering::Acquire)
        .map_err(|_| NotTheSlot)?;
    if std::ptr::eq(read(), new) {
        return Ok(());
    }
    // Not subsecond's static: give the word back its value. Only the page
    // commits, so nothing else wrote it meanwhile.
    let _ = cell.compare_exchange(new, before, Ordering::AcqRel, Ordering::Acquire);
    Err(NotTheSlot)
}

/// The address does not hold the static subsecond reads.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NotTheSlot;

#[cfg(test)]
mod tests {
    use super::*;

    fn read_of(cell: &AtomicPtr<u32>) -> impl Fn() -> *const u32 + '_ {
        || cell.load(Ordering::Acquire).cast_const()
    }

    #[test]
    fn the_right_address_takes_the_first_table_and_every_later_one() {
        let slot = AtomicPtr::new(std::ptr::null_mut());
        let (mut first, mut second) = (1u32, 2u32);
        assert_eq!(store_checked(&slot, &mut first, read_of(&slot)), Ok(()));
        assert_eq!(store_checked(&slot, &mut second, read_of(&slot)), Ok(()));
        assert!(std::ptr::eq(slot.load(Ordering::Acquire), &second));
    }

    #[test]
    fn a_wrong_address_holding_null_refuses_the_first_table_and_is_put_back() {
        // subsecond's static, null before the first patch, and another word
        // that happens to be zero too: comparing before the store would pass.
        let subsecond = AtomicPtr::<u32>::new(std::ptr::null_mut());
        let elsewhere = AtomicPtr::<u32>::new(std::ptr::null_mut());
        let mut table = 1u32;
        assert_eq!(
            store_checked(&elsewhere, &mut table, read_of(&subsecond)),
            Err(NotTheSlot)
        );
        assert!(elsewhere.load(Ordering::Acquire).is_null(), "put back");
        assert!(subsecond.load(Ordering::Acquire).is_null());
    }

    #[test]
    fn a_wrong_address_holding_something_else_is_not_touched() {
        let mut current = 1u32;
        let mut other = 7u32;
        let subsecond = AtomicPtr::new(&mut current as *mut u32);
        let elsewhere = AtomicPtr::new(&mut other as *mut u32);
        let mut table = 2u32;
        assert_eq!(
            store_checked(&elsewhere, &mut table, read_of(&subsecond)),
            Err(NotTheSlot)
        );
        assert!(std::ptr::eq(elsewhere.load(Ordering::Acquire), &other));
    }
}

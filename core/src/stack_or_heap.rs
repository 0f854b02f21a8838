//! Short-lived arrays for system calls (iovecs, poll sets) on the stack when they are small,
//! which they are on every hot path, so those paths never call the allocator.

/// Copies `items` (at most `len` of them) into `on_stack` when `len` fits it, else into
/// `on_heap`, and returns the filled part.
pub(crate) fn fill<'s, T: Copy, const N: usize>(
    items: impl Iterator<Item = T>,
    len: usize,
    on_stack: &'s mut [T; N],
    on_heap: &'s mut Vec<T>,
) -> &'s mut [T] {
    let items = items.take(len);
    if len <= N {
        let mut filled = 0;
        for (slot, item) in on_stack.iter_mut().zip(items) {
            *slot = item;
            filled += 1;
        }
        &mut on_stack[..filled]
    } else {
        on_heap.extend(items);
        on_heap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_sets_stay_on_the_stack_and_large_ones_go_to_the_heap() {
        let (mut on_stack, mut on_heap) = ([0u8; 4], Vec::new());
        assert_eq!(fill([1, 2, 3].into_iter(), 3, &mut on_stack, &mut on_heap), [1, 2, 3]);
        assert!(on_heap.is_empty());
        assert_eq!(fill((1..=9).filter(|n| n % 2 == 1), 4, &mut on_stack, &mut on_heap), [1, 3, 5, 7]);
        assert_eq!(fill(1..=6, 6, &mut on_stack, &mut on_heap), [1, 2, 3, 4, 5, 6]);
        assert_eq!(on_heap.len(), 6);
    }
}

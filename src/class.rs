//! Size classes: request size -> class, class -> capacity.
//!
//! Classes sit on a fixed grid with four steps per power of two (like jemalloc
//! and Netty): 4 KiB, 5 KiB, 6 KiB, 7 KiB, 8 KiB, 10 KiB, ... A request is served
//! from the smallest grid capacity that holds it, so a buffer wastes less than 25%
//! of its capacity (at most 20% in fact: 4 KiB + 1 gets 5 KiB). Everything is
//! arithmetic on the leading-zero count: no table, no loop.

/// Grid index of the smallest grid capacity `>= n` (`n >= 1`).
#[inline]
pub(crate) fn grid_ceil(n: usize) -> usize {
    debug_assert!(n >= 1);
    if n <= 4 {
        return n;
    }
    let m = n - 1;
    let hb = (usize::BITS - 1 - m.leading_zeros()) as usize; // >= 2
    let mant = (m >> (hb - 2)) & 3;
    4 * hb + mant - 3
}

/// Capacity of grid index `idx`.
#[inline]
pub(crate) fn grid_capacity(idx: usize) -> usize {
    if idx <= 4 {
        return idx;
    }
    let hb = idx.div_ceil(4);
    let mant = (idx + 3) % 4;
    (5 + mant) << (hb - 2)
}

/// Grid index of the largest grid capacity `<= cap` (`cap >= 1`).
#[inline]
pub(crate) fn grid_floor(cap: usize) -> usize {
    let c = grid_ceil(cap);
    if grid_capacity(c) == cap {
        c
    } else {
        c - 1
    }
}

/// The classes of one pool: grid indices `first..=last`, after rounding every
/// request up to the pool's alignment unit.
#[derive(Debug, Clone)]
pub(crate) struct Classes {
    first: usize,
    last: usize,
    min: usize,
    max: usize,
    /// Requests are rounded up to a multiple of this before classing (1, or the
    /// page size for pinned pools, or the alignment for aligned pools).
    unit: usize,
}

/// Where a request is served from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fit {
    /// Pooled: the class index.
    Class(usize),
    /// Outside `[min, max]`: served exactly (capacity given), freed on drop.
    Exact(usize),
}

impl Classes {
    pub(crate) fn new(min: usize, max: usize, unit: usize) -> Self {
        debug_assert!(min >= 1 && min <= max && unit.is_power_of_two());
        let first = grid_ceil(round_up(min, unit));
        let last = grid_ceil(round_up(max, unit));
        Self { first, last, min, max, unit }
    }

    /// Number of classes.
    pub(crate) fn len(&self) -> usize {
        self.last - self.first + 1
    }

    /// The smallest request a class serves.
    pub(crate) fn min_pooled(&self) -> usize {
        self.min
    }

    /// Capacity of class `c`.
    #[inline]
    pub(crate) fn capacity(&self, c: usize) -> usize {
        debug_assert!(c < self.len());
        round_up(grid_capacity(self.first + c), self.unit)
    }

    /// The class (and capacity) that serves a request of `n` bytes.
    #[inline]
    pub(crate) fn fit(&self, n: usize) -> Fit {
        if n < self.min || n > self.max {
            return Fit::Exact(if self.unit > 1 { round_up(n, self.unit) } else { n });
        }
        Fit::Class(grid_ceil(round_up(n, self.unit)) - self.first)
    }

    /// The class a buffer of real capacity `cap` belongs to when it comes
    /// back: the largest class whose capacity it covers. `None` if it is smaller
    /// than the first class or larger than the last class's capacity allows.
    #[inline]
    pub(crate) fn class_of_capacity(&self, cap: usize) -> Option<usize> {
        if cap == 0 {
            return None;
        }
        let g = grid_floor(cap);
        if g < self.first || g > self.last {
            return None;
        }
        let c = g - self.first;
        // With a rounding unit a grid capacity may round up past `cap`.
        if self.capacity(c) <= cap {
            Some(c)
        } else if c > 0 && self.capacity(c - 1) <= cap {
            Some(c - 1)
        } else {
            None
        }
    }
}

/// `n` rounded up to a multiple of the power of two `unit`, saturating.
#[inline]
pub(crate) fn round_up(n: usize, unit: usize) -> usize {
    debug_assert!(unit.is_power_of_two());
    match n.checked_add(unit - 1) {
        Some(v) => v & !(unit - 1),
        None => usize::MAX & !(unit - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_monotonic_and_invertible() {
        let mut prev = 0;
        for idx in 1..200 {
            let cap = grid_capacity(idx);
            assert!(cap > prev, "idx {idx}");
            assert_eq!(grid_ceil(cap), idx);
            assert_eq!(grid_floor(cap), idx);
            assert_eq!(grid_ceil(cap + 1), idx + 1);
            let next_is_grid = grid_capacity(idx + 1) == cap + 1;
            assert_eq!(grid_floor(cap + 1), if next_is_grid { idx + 1 } else { idx });
            prev = cap;
        }
    }

    #[test]
    fn waste_is_under_a_quarter() {
        let c = Classes::new(4096, 1 << 30, 1);
        let mut n = 4096;
        while n <= 1 << 30 {
            for m in [n, n + 1, n + n / 3, n * 2 - 1] {
                if let Fit::Class(k) = c.fit(m) {
                    let cap = c.capacity(k);
                    assert!(cap >= m);
                    assert!((cap - m) * 4 < cap, "{m} -> {cap}");
                }
            }
            n *= 2;
        }
        assert_eq!(c.fit(64 * 1024 + 1), Fit::Class(c.class_of_capacity(80 * 1024).unwrap()));
    }

    /// The fast path starts each thread's last-size pair at the smallest
    /// pooled request and the class that fits it, and leaves gets to the
    /// slow path if none does: so one must.
    #[test]
    fn the_smallest_pooled_request_fits_a_class() {
        for (min, max, unit) in
            [(4096, 1 << 20, 1), (1024, 1 << 26, 1), (4096, 1 << 30, 4096), (1, 64, 1), (100, 100, 1)]
        {
            let c = Classes::new(min, max, unit);
            let n = c.min_pooled();
            match c.fit(n) {
                Fit::Class(k) => assert!(k < c.len() && c.capacity(k) >= n, "{min}..{max} by {unit}"),
                Fit::Exact(_) => panic!("{n} fits no class of {min}..{max} by {unit}"),
            }
        }
    }

    #[test]
    fn outside_range_is_exact() {
        let c = Classes::new(4096, 1 << 20, 1);
        assert_eq!(c.fit(100), Fit::Exact(100));
        assert_eq!(c.fit((1 << 20) + 1), Fit::Exact((1 << 20) + 1));
        assert_eq!(c.class_of_capacity(100), None);
        assert_eq!(c.class_of_capacity(1 << 22), None);
    }

    #[test]
    fn filing_by_real_capacity() {
        let c = Classes::new(4096, 1 << 20, 1);
        // A buffer grown to 9000 bytes serves the 8 KiB class.
        assert_eq!(c.capacity(c.class_of_capacity(9000).unwrap()), 8192);
        assert_eq!(c.class_of_capacity(4095), None);
    }

    #[test]
    fn page_unit_classes_are_page_multiples() {
        let c = Classes::new(4096, 1 << 30, 4096);
        for n in [4096, 4097, 5000, 9000, 12289, 100_000, 1 << 20, (1 << 20) + 7] {
            let Fit::Class(k) = c.fit(n) else { panic!() };
            let cap = c.capacity(k);
            assert_eq!(cap % 4096, 0, "{n}");
            assert!(cap >= n);
            assert_eq!(c.class_of_capacity(cap), Some(k), "{n} -> {cap}");
        }
    }
}

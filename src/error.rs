//! Errors: [`BuildError`] for invalid configurations, [`AllocError`] for
//! requests that cannot be allocated.

use std::fmt;

/// Why [`Builder::build`](crate::Builder::build) refused a configuration.
///
/// ```
/// let err = bufpool::BufferPool::builder().num_shards(0).build().unwrap_err();
/// assert_eq!(err, bufpool::BuildError::ZeroShards);
/// println!("{err}"); // "num_shards must be at least 1"
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// `num_shards(0)`.
    ZeroShards,
    /// `num_shards(n)` with `n` not a power of two.
    ShardsNotPowerOfTwo(usize),
    /// `num_shards(n)` above 1024.
    TooManyShards(usize),
    /// `tls_cache_size(0)`.
    ZeroCacheDepth,
    /// `tls_cache_size(n)` above 64.
    CacheDepthTooLarge(usize),
    /// `max_buffers_per_shard(0)`.
    ZeroBuffersPerShard,
    /// `max_buffers_per_shard(n)` above [`MAX_BUFFERS_PER_SHARD`](crate::MAX_BUFFERS_PER_SHARD).
    TooManyBuffersPerShard(usize),
    /// `min_buffer_size(0)`.
    ZeroMinSize,
    /// `min_buffer_size` greater than `max_buffer_size`.
    MinAboveMax {
        /// The minimum that was set.
        min: usize,
        /// The maximum that was set.
        max: usize,
    },
    /// `max_buffer_size` above `isize::MAX / 2`.
    MaxTooLarge(usize),
    /// `alignment(n)` with `n` zero or not a power of two.
    AlignmentNotPowerOfTwo(usize),
    /// `alignment(n)` above [`MAX_ALIGNMENT`](crate::MAX_ALIGNMENT) (2 MiB).
    AlignmentTooLarge(usize),
    /// `cpus(0)`.
    ZeroCpus,
    /// `read_size(0)`.
    ZeroReadSize,
    /// `read_size(n)` above `isize::MAX / 2`.
    ReadSizeTooLarge(usize),
    /// `idle_timeout(Duration::ZERO)`.
    ZeroIdleTimeout,
    /// `track_outstanding(0)`.
    ZeroSampleInterval,
    /// `max_outstanding_bytes(0)`: no buffer could ever be handed out.
    ZeroOutstandingCap,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroShards => f.write_str("num_shards must be at least 1"),
            Self::ShardsNotPowerOfTwo(n) => write!(f, "num_shards must be a power of two, got {n}"),
            Self::TooManyShards(n) => write!(f, "num_shards must be at most 1024, got {n}"),
            Self::ZeroCacheDepth => f.write_str("tls_cache_size must be at least 1"),
            Self::CacheDepthTooLarge(n) => {
                write!(f, "tls_cache_size must be at most {}, got {n}", crate::config::MAX_SET_CACHE_DEPTH)
            }
            Self::ZeroBuffersPerShard => f.write_str("max_buffers_per_shard must be at least 1"),
            Self::TooManyBuffersPerShard(n) => {
                write!(f, "max_buffers_per_shard must be at most {}, got {n}", crate::MAX_BUFFERS_PER_SHARD)
            }
            Self::ZeroMinSize => f.write_str("min_buffer_size must be at least 1"),
            Self::MinAboveMax { min, max } => {
                write!(f, "min_buffer_size ({min}) must not exceed max_buffer_size ({max})")
            }
            Self::MaxTooLarge(n) => write!(f, "max_buffer_size must be at most isize::MAX / 2, got {n}"),
            Self::AlignmentNotPowerOfTwo(n) => {
                write!(f, "alignment must be a non-zero power of two, got {n}")
            }
            Self::AlignmentTooLarge(n) => write!(f, "alignment must be at most 2 MiB (a huge page), got {n}"),
            Self::ZeroCpus => f.write_str("cpus must be at least 1"),
            Self::ZeroReadSize => f.write_str("read_size must be at least 1"),
            Self::ReadSizeTooLarge(n) => write!(f, "read_size must be at most isize::MAX / 2, got {n}"),
            Self::ZeroIdleTimeout => f.write_str("idle_timeout must be non-zero"),
            Self::ZeroSampleInterval => f.write_str("track_outstanding must sample one get in at least 1"),
            Self::ZeroOutstandingCap => {
                f.write_str("max_outstanding_bytes must be non-zero (no buffer could ever be handed out); leave it unset for no cap")
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// Why [`BufferPool::try_get`](crate::BufferPool::try_get) could not serve a request.
///
/// ```
/// let pool = bufpool::BufferPool::new();
/// let err = pool.try_get(usize::MAX).unwrap_err();
/// assert!(matches!(err, bufpool::AllocError::CapacityOverflow { .. }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllocError {
    /// The size cannot be described to the allocator (above `isize::MAX` once
    /// rounded up to the alignment).
    CapacityOverflow {
        /// The capacity asked for.
        size: usize,
    },
    /// The allocator returned null.
    OutOfMemory {
        /// The capacity asked for.
        size: usize,
    },
    /// The buffer would pass a byte budget: the pool's
    /// [`max_outstanding_bytes`](crate::Builder::max_outstanding_bytes), or an
    /// [`Account`](crate::Account)'s limit. See [`AllocError::is_over_budget`].
    OverBudget {
        /// The capacity the request needs.
        size: usize,
        /// Bytes charged against the budget when it was refused.
        charged: usize,
        /// The budget.
        max: usize,
        /// Whether the budget is an account's limit (else the pool's cap).
        account: bool,
    },
}

impl AllocError {
    /// Whether the request was refused by a byte budget (the pool's
    /// `max_outstanding_bytes` or an account's limit) rather than by the
    /// allocator. Waiting ([`BufferPool::get_async`](crate::BufferPool::get_async))
    /// succeeds once bytes come back, unless the request is larger than the
    /// budget itself.
    ///
    /// ```
    /// let pool = bufpool::BufferPool::builder().max_outstanding_bytes(64 << 10).build()?;
    /// let held = pool.get(64 << 10);
    /// let err = pool.try_get(4096).unwrap_err();
    /// assert!(err.is_over_budget());
    /// println!("{err}"); // names the cap and what is charged
    /// drop(held);
    /// assert!(pool.try_get(4096).is_ok());
    /// # Ok::<(), bufpool::BuildError>(())
    /// ```
    pub fn is_over_budget(&self) -> bool {
        matches!(self, Self::OverBudget { .. })
    }
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CapacityOverflow { size } => {
                write!(f, "buffer capacity overflow: {size} bytes exceeds isize::MAX")
            }
            Self::OutOfMemory { size } => write!(f, "memory allocation of {size} bytes failed"),
            Self::OverBudget { size, charged, max, account } => {
                let what = if *account { "the account's limit" } else { "the pool's max_outstanding_bytes" };
                if size > max {
                    write!(f, "a buffer of {size} bytes can never fit {what} of {max} bytes")
                } else {
                    write!(f, "a buffer of {size} bytes would pass {what} of {max} bytes ({charged} charged)")
                }
            }
        }
    }
}

impl std::error::Error for AllocError {}

impl From<AllocError> for std::io::Error {
    fn from(e: AllocError) -> Self {
        let kind = match e {
            AllocError::CapacityOverflow { .. } => std::io::ErrorKind::InvalidInput,
            AllocError::OutOfMemory { .. } => std::io::ErrorKind::OutOfMemory,
            AllocError::OverBudget { size, max, .. } if size > max => std::io::ErrorKind::InvalidInput,
            AllocError::OverBudget { .. } => std::io::ErrorKind::OutOfMemory,
        };
        std::io::Error::new(kind, e)
    }
}

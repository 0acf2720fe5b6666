use quotewire_core::{InstrumentId, Price};
use thiserror::Error;

/// Why a venue could not be built from its configuration.
///
/// Per-order refusals are not errors: they are
/// [`RejectReason`](crate::matching::RejectReason) codes carried by a
/// [`Rejected`](crate::matching::Rejected) event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum VenueError {
    /// Two instrument configurations share an id.
    #[error("instrument {0:?} is configured twice")]
    DuplicateInstrument(InstrumentId),
    /// The tick size is zero or negative.
    #[error("instrument {instrument:?}: tick {tick:?} must be positive")]
    InvalidTick {
        /// The instrument.
        instrument: InstrumentId,
        /// The refused tick.
        tick: Price,
    },
    /// No tick-aligned price lies inside the band.
    #[error("instrument {0:?}: the price band holds no valid price")]
    EmptyBand(InstrumentId),
    /// The band reaches above the ITCH `Price(4)` range (`u32::MAX` raw units).
    #[error("instrument {0:?}: the price band exceeds the ITCH price range")]
    BandOutOfRange(InstrumentId),
    /// The band spans more ticks than `max_band_levels` allows.
    #[error("instrument {instrument:?}: band of {levels} ticks exceeds the limit of {limit}")]
    BandTooWide {
        /// The instrument.
        instrument: InstrumentId,
        /// Ticks the band spans.
        levels: u64,
        /// The configured limit.
        limit: usize,
    },
    /// The maximum order quantity is zero or above the ITCH share field (`u32::MAX`).
    #[error("instrument {0:?}: max order quantity must be in 1..=u32::MAX")]
    InvalidMaxQty(InstrumentId),
    /// `max_orders` does not fit the 32-bit slab index.
    #[error("max_orders {0} exceeds the supported {max}", max = u32::MAX - 1)]
    TooManyOrders(usize),
}

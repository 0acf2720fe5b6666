//! quotewire-feed (being built).

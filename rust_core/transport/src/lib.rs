//! quotewire-transport (being built).

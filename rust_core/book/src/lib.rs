//! quotewire-book (being built).

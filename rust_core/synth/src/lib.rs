//! quotewire-synth (being built).

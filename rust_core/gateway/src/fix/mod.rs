//! The FIX 4.4 order gateway: [`FixClient`], an initiator behind the same
//! [`OrderGateway`](crate::OrderGateway) trait as the OUCH client, over the
//! codec of `quotewire_protocol::fix` (encoding in place into the send
//! buffer, zero-copy decoding from the receive buffer).
//!
//! # Requests
//!
//! | [`OrderRequest`](quotewire_core::order::OrderRequest) | FIX |
//! |---|---|
//! | `New` | NewOrderSingle(D): `11=<cl>`, `1` Account if configured, `18=6` if post-only, `55`, `54`, `60`, `38`, `40=2`, `44`, `59=0` (Day) or `3` (IOC) |
//! | `Replace` | OrderCancelReplaceRequest(G): `41=<orig>`, `11=<cl>`, `38` = open qty + CumQty last seen, `40=2`, `44`, `59=0` |
//! | `Cancel` | OrderCancelRequest(F): `41=<cl>`, `11=<cl>C<MsgSeqNum>`, `55`, `54`, `60` |
//!
//! # Reports
//!
//! | FIX | [`ExecReport`](quotewire_core::order::ExecReport) |
//! |---|---|
//! | 8, ExecType `0` New | `Accepted` (venue id: OrderID(37) if decimal, else 0; qty: LeavesQty) |
//! | 8, ExecType `F` Trade | `Executed` (LastQty, LastPx; match number: ExecID(17) if decimal, else 0 = unnumbered; liquidity from LastLiquidityInd(851): `A`/`R`/`X`, 0 if absent) |
//! | 8, ExecType `4` Canceled, `C` Expired, `3` DoneForDay | `Canceled` of the order named by OrigClOrdID (else ClOrdID), qty OrderQty - CumQty - LeavesQty; reason `User` if OrigClOrdID is present, `Ioc` for an IOC order, else `Venue` |
//! | 8, ExecType `5` Replaced | `Replaced` (orig: OrigClOrdID, qty: LeavesQty); without a new ClOrdID, a `Canceled` of the shares the venue took off |
//! | 8, ExecType `8` Rejected | `Rejected` (reason: OrdRejReason(103), 99 if absent) |
//! | 8, ExecType `H` TradeCancel | `BrokenTrade` (match number: ExecRefID(19)) |
//! | 8, other ExecTypes (pending, restated, status) | counted, not reported |
//! | 9 OrderCancelReject | `CancelRejected` of the order named by OrigClOrdID |
//! | 3 Reject / j BusinessMessageReject of our D, G | `Rejected` (reason 1000 + SessionRejectReason / 2000 + BusinessRejectReason) |
//! | 3 Reject / j BusinessMessageReject of our F | `CancelRejected` |
//!
//! The session layer (Logon, sequence numbers, resends, heartbeats, garbled
//! input) is described on [`FixClient`]'s module, `client`.

mod client;
mod orders;
mod state;

pub use client::{FixClient, FixClientConfig, FixStats, MAX_FIX_MESSAGE_LEN, MIN_FIX_SEND_BUFFER};
pub use orders::parse_cl_ord_id;
pub use state::{FixSessionState, FIX_STATE_FILE_LEN};

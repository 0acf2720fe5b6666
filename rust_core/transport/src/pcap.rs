//! pcap / pcapng replay and classic-pcap recording of UDP datagrams.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapParser};
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};

use crate::net::{build_frame, parse_udp, Link, FRAME_OVERHEAD};
use crate::{Received, Transport, TransportError, MAX_UDP_PAYLOAD};

/// Which datagrams of a capture a [`PcapReplay`] yields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PcapFilter {
    /// Keep only datagrams sent to this UDP port.
    pub dst_port: Option<u16>,
    /// Keep only datagrams sent to this IPv4 address (a multicast group).
    pub dst_addr: Option<Ipv4Addr>,
}

impl PcapFilter {
    /// Keeps every UDP datagram.
    pub const ALL: Self = Self {
        dst_port: None,
        dst_addr: None,
    };

    /// Keeps datagrams sent to `port`.
    #[must_use]
    pub const fn port(port: u16) -> Self {
        Self {
            dst_port: Some(port),
            dst_addr: None,
        }
    }

    /// True when a datagram sent to `dst` passes the filter.
    #[must_use]
    pub fn accepts(&self, dst: SocketAddrV4) -> bool {
        self.dst_port.is_none_or(|p| p == dst.port())
            && self.dst_addr.is_none_or(|a| a == *dst.ip())
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    offset: usize,
    len: usize,
    ts_ns: u64,
}

/// Replays the UDP payloads of a pcap or pcapng capture as a [`Transport`].
///
/// The file is read into memory and indexed once when opened (format told
/// by its magic number; Ethernet with 802.1Q/802.1ad tags, raw IP, Linux
/// cooked and BSD loopback link types; IPv4 only; fragments skipped), so
/// `recv` is a bounded copy with no I/O, parsing or allocation. Every call
/// returns the next datagram at once: pacing by timestamp is the caller's.
/// `send` discards the datagram and counts it.
#[derive(Debug)]
pub struct PcapReplay {
    data: Vec<u8>,
    index: Vec<Entry>,
    next: usize,
    skipped: u64,
    truncated: bool,
    sent: u64,
}

impl PcapReplay {
    /// Opens and indexes the capture at `path`.
    pub fn open(path: impl AsRef<Path>, filter: PcapFilter) -> Result<Self, TransportError> {
        Self::from_bytes(std::fs::read(path)?, filter)
    }

    /// Indexes a capture held in memory.
    pub fn from_bytes(data: Vec<u8>, filter: PcapFilter) -> Result<Self, TransportError> {
        let magic = data
            .get(..4)
            .ok_or(TransportError::Capture("file shorter than a magic".into()))?;
        let mut me = Self {
            data: Vec::new(),
            index: Vec::new(),
            next: 0,
            skipped: 0,
            truncated: false,
            sent: 0,
        };
        if magic == [0x0A, 0x0D, 0x0D, 0x0A] {
            me.index_pcapng(&data, filter)?;
        } else {
            me.index_pcap(&data, filter)?;
        }
        me.data = data;
        Ok(me)
    }

    fn push(&mut self, base: &[u8], link: Link, frame: &[u8], ts_ns: u64, filter: PcapFilter) {
        let Some(view) = parse_udp(link, frame).filter(|v| filter.accepts(v.dst)) else {
            self.skipped += 1;
            return;
        };
        // The parsers borrow from `base`, so the frame's address locates it; an
        // address outside `base` (a copy) fails the bounds check and is skipped.
        let start = (frame.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
        if start
            .checked_add(view.offset + view.len)
            .is_none_or(|end| end > base.len())
        {
            self.skipped += 1;
            return;
        }
        self.index.push(Entry {
            offset: start + view.offset,
            len: view.len,
            ts_ns,
        });
    }

    fn index_pcap(&mut self, data: &[u8], filter: PcapFilter) -> Result<(), TransportError> {
        let (mut rest, parser) = PcapParser::new(data)?;
        let link = link_of(parser.header().datalink).ok_or(TransportError::UnsupportedLinkType(
            u32::from(parser.header().datalink),
        ))?;
        while !rest.is_empty() {
            match parser.next_packet(rest) {
                Ok((tail, packet)) => {
                    let ts = duration_ns(packet.timestamp);
                    self.push(data, link, &packet.data[..], ts, filter);
                    rest = tail;
                }
                Err(PcapError::IncompleteBuffer) => {
                    self.truncated = true;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn index_pcapng(&mut self, data: &[u8], filter: PcapFilter) -> Result<(), TransportError> {
        let (mut rest, mut parser) = PcapNgParser::new(data)?;
        while !rest.is_empty() {
            let (tail, block) = match parser.next_block(rest) {
                Ok(ok) => ok,
                Err(PcapError::IncompleteBuffer) => {
                    self.truncated = true;
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            rest = tail;
            match block {
                Block::EnhancedPacket(epb) => {
                    let Some(iface) = parser.packet_interface(&epb) else {
                        self.skipped += 1;
                        continue;
                    };
                    let Some(link) = link_of(iface.linktype) else {
                        self.skipped += 1;
                        continue;
                    };
                    let ts = pcapng_ts_ns(&iface.options, epb.timestamp);
                    self.push(data, link, &epb.data[..], ts, filter);
                }
                Block::SimplePacket(spb) => {
                    let Some(link) = parser
                        .interfaces()
                        .first()
                        .and_then(|i| link_of(i.linktype))
                    else {
                        self.skipped += 1;
                        continue;
                    };
                    self.push(data, link, &spb.data[..], 0, filter);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Datagrams indexed (after filtering).
    #[must_use]
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when the capture holds no matching datagram.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Datagrams not yet replayed.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.index.len() - self.next
    }

    /// Frames skipped while indexing: filtered out, not IPv4/UDP, fragments,
    /// cut short by the snap length, or on an unsupported link type.
    #[must_use]
    pub const fn skipped(&self) -> u64 {
        self.skipped
    }

    /// True when the file ended in the middle of a record (a capture cut short).
    #[must_use]
    pub const fn truncated(&self) -> bool {
        self.truncated
    }

    /// Datagrams passed to `send` (and discarded).
    #[must_use]
    pub const fn sent(&self) -> u64 {
        self.sent
    }

    /// Starts the replay again from the first datagram.
    pub fn rewind(&mut self) {
        self.next = 0;
    }
}

impl Transport for PcapReplay {
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<Received>, TransportError> {
        let Some(&e) = self.index.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        let Some(dst) = buf.get_mut(..e.len) else {
            return Err(TransportError::Truncated {
                len: e.len,
                cap: buf.len(),
            });
        };
        dst.copy_from_slice(&self.data[e.offset..e.offset + e.len]);
        Ok(Some(Received {
            len: e.len,
            ts_ns: e.ts_ns,
        }))
    }

    fn send(&mut self, _payload: &[u8]) -> Result<(), TransportError> {
        self.sent += 1;
        Ok(())
    }

    fn recv_burst<F>(
        &mut self,
        _scratch: &mut [u8],
        max: usize,
        mut visit: F,
    ) -> Result<usize, TransportError>
    where
        F: FnMut(&[u8], u64),
    {
        // Zero-copy: payloads are visited where they lie in the loaded file.
        let end = self.next.saturating_add(max).min(self.index.len());
        for e in &self.index[self.next..end] {
            visit(&self.data[e.offset..e.offset + e.len], e.ts_ns);
        }
        let n = end - self.next;
        self.next = end;
        Ok(n)
    }
}

fn link_of(dl: DataLink) -> Option<Link> {
    match dl {
        DataLink::ETHERNET => Some(Link::Ethernet),
        DataLink::RAW | DataLink::IPV4 => Some(Link::RawIp),
        DataLink::LINUX_SLL => Some(Link::LinuxSll),
        DataLink::NULL | DataLink::LOOP => Some(Link::Null),
        _ => None,
    }
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// pcap-file 2 hands back the raw 64-bit pcapng timestamp as if it were
/// nanoseconds; scale it by the interface's `if_tsresol` (default 10^-6 s)
/// and add `if_tsoffset` seconds.
fn pcapng_ts_ns(options: &[InterfaceDescriptionOption<'_>], raw: Duration) -> u64 {
    let raw = raw.as_nanos();
    let mut resol = 6u8;
    let mut offset_s = 0u64;
    for o in options {
        match o {
            InterfaceDescriptionOption::IfTsResol(r) => resol = *r,
            InterfaceDescriptionOption::IfTsOffset(s) => offset_s = *s,
            _ => {}
        }
    }
    let ns = if resol & 0x80 != 0 {
        let shift = u32::from(resol & 0x7F).min(127);
        raw.saturating_mul(1_000_000_000) >> shift
    } else if resol <= 9 {
        raw.saturating_mul(10u128.pow(9 - u32::from(resol)))
    } else {
        raw / 10u128.pow(u32::from(resol.min(38)) - 9)
    };
    u64::try_from(ns)
        .unwrap_or(u64::MAX)
        .saturating_add(offset_s.saturating_mul(1_000_000_000))
}

/// Records UDP datagrams into a classic (nanosecond) pcap file with synthetic
/// Ethernet/IPv4/UDP headers: correct lengths, IPv4 header checksum and UDP
/// checksum. For recording and for generating test captures; not a hot-path
/// component (it writes through `W`).
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    inner: pcap_file::pcap::PcapWriter<W>,
    frame: Vec<u8>,
    ip_id: u16,
}

impl PcapWriter<BufWriter<File>> {
    /// Creates (truncates) the file at `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, TransportError> {
        Self::new(BufWriter::new(File::create(path)?))
    }
}

impl<W: Write> PcapWriter<W> {
    /// Writes the pcap file header (Ethernet link type, nanosecond timestamps).
    pub fn new(writer: W) -> Result<Self, TransportError> {
        let header = PcapHeader {
            snaplen: 262_144,
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::NanoSecond,
            endianness: Endianness::native(),
            ..PcapHeader::default()
        };
        let inner = pcap_file::pcap::PcapWriter::with_header(writer, header)?;
        Ok(Self {
            inner,
            frame: Vec::with_capacity(FRAME_OVERHEAD + MAX_UDP_PAYLOAD),
            ip_id: 0,
        })
    }

    /// Appends one datagram from `src` to `dst` captured at `ts_ns` (since the Unix epoch).
    pub fn write_datagram(
        &mut self,
        ts_ns: u64,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        payload: &[u8],
    ) -> Result<(), TransportError> {
        if payload.len() > MAX_UDP_PAYLOAD {
            return Err(TransportError::PayloadTooLarge(payload.len()));
        }
        build_frame(&mut self.frame, src, dst, self.ip_id, payload);
        self.ip_id = self.ip_id.wrapping_add(1);
        let len = self.frame.len() as u32;
        let packet = PcapPacket::new(Duration::from_nanos(ts_ns), len, &self.frame);
        self.inner.write_packet(&packet)?;
        Ok(())
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(self) -> Result<W, TransportError> {
        let mut w = self.inner.into_writer();
        w.flush()?;
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
    use pcap_file::pcapng::PcapNgWriter;
    use proptest::prelude::*;
    use std::borrow::Cow;

    fn a(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(10, 1, 2, 3), port)
    }

    fn g(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(233, 54, 12, 111), port)
    }

    fn record(datagrams: &[(u64, u16, Vec<u8>)]) -> Vec<u8> {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        for (ts, port, p) in datagrams {
            w.write_datagram(*ts, a(5000), g(*port), p).unwrap();
        }
        w.into_inner().unwrap()
    }

    fn drain(r: &mut PcapReplay) -> Vec<(u64, Vec<u8>)> {
        let mut buf = vec![0u8; MAX_UDP_PAYLOAD];
        let mut out = Vec::new();
        while let Some(rx) = r.recv(&mut buf).unwrap() {
            out.push((rx.ts_ns, buf[..rx.len].to_vec()));
        }
        out
    }

    #[test]
    fn filter_by_destination_port_keeps_only_that_line() {
        let file = record(&[
            (1, 26400, b"a1".to_vec()),
            (2, 26401, b"b1".to_vec()),
            (3, 26400, b"a2".to_vec()),
        ]);
        let mut r = PcapReplay::from_bytes(file.clone(), PcapFilter::port(26400)).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r.skipped(), 1);
        assert_eq!(
            drain(&mut r),
            vec![(1, b"a1".to_vec()), (3, b"a2".to_vec())]
        );
        let filter = PcapFilter {
            dst_addr: Some(Ipv4Addr::new(1, 1, 1, 1)),
            dst_port: None,
        };
        assert!(PcapReplay::from_bytes(file, filter).unwrap().is_empty());
    }

    #[test]
    fn capture_cut_mid_record_replays_the_whole_records_and_flags_truncation() {
        let file = record(&[(1, 1, vec![7; 100]), (2, 1, vec![8; 100])]);
        let mut r =
            PcapReplay::from_bytes(file[..file.len() - 10].to_vec(), PcapFilter::ALL).unwrap();
        assert!(r.truncated());
        assert_eq!(drain(&mut r), vec![(1, vec![7; 100])]);
    }

    #[test]
    fn too_small_buffer_is_reported_and_the_datagram_skipped() {
        let file = record(&[(1, 1, vec![1; 64]), (2, 1, vec![2; 8])]);
        let mut r = PcapReplay::from_bytes(file, PcapFilter::ALL).unwrap();
        let mut small = [0u8; 16];
        assert!(matches!(
            r.recv(&mut small),
            Err(TransportError::Truncated { len: 64, cap: 16 })
        ));
        assert_eq!(r.recv(&mut small).unwrap().unwrap().len, 8);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(PcapReplay::from_bytes(vec![1, 2], PcapFilter::ALL).is_err());
        assert!(PcapReplay::from_bytes(vec![0xAB; 64], PcapFilter::ALL).is_err());
    }

    #[test]
    fn pcapng_replay_scales_timestamps_by_interface_resolution() {
        let mut frame = Vec::new();
        build_frame(&mut frame, a(1), g(2), 0, b"ng-payload");
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        // Interface 0: default resolution (microseconds). Interface 1: nanoseconds.
        w.write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::ETHERNET, 0))
            .unwrap();
        let mut ns = InterfaceDescriptionBlock::new(DataLink::ETHERNET, 0);
        ns.options.push(InterfaceDescriptionOption::IfTsResol(9));
        w.write_pcapng_block(ns).unwrap();
        for (iface, raw) in [(0u32, 1_500_000u64), (1, 2_000_000_123)] {
            let epb = EnhancedPacketBlock {
                interface_id: iface,
                timestamp: Duration::from_nanos(raw),
                original_len: frame.len() as u32,
                data: Cow::Borrowed(&frame),
                options: vec![],
            };
            w.write_pcapng_block(epb).unwrap();
        }
        let mut r = PcapReplay::from_bytes(w.into_inner(), PcapFilter::ALL).unwrap();
        assert_eq!(
            drain(&mut r),
            vec![
                (1_500_000_000, b"ng-payload".to_vec()),
                (2_000_000_123, b"ng-payload".to_vec())
            ]
        );
    }

    #[test]
    fn recv_burst_visits_payloads_in_place_and_send_is_counted() {
        let file = record(&[
            (1, 1, b"x".to_vec()),
            (2, 1, b"yy".to_vec()),
            (3, 1, b"zzz".to_vec()),
        ]);
        let mut r = PcapReplay::from_bytes(file, PcapFilter::ALL).unwrap();
        let mut seen = Vec::new();
        let n = r
            .recv_burst(&mut [], 2, |p, ts| seen.push((ts, p.len())))
            .unwrap();
        assert_eq!((n, seen.as_slice()), (2, &[(1, 1), (2, 2)][..]));
        assert_eq!(r.remaining(), 1);
        r.send(b"req").unwrap();
        assert_eq!(r.sent(), 1);
        r.rewind();
        assert_eq!(r.remaining(), 3);
    }

    #[test]
    fn file_round_trip_through_the_filesystem() {
        let path = std::env::temp_dir().join(format!("qw-transport-{}.pcap", std::process::id()));
        let mut w = PcapWriter::create(&path).unwrap();
        w.write_datagram(42, a(1), g(9), b"on disk").unwrap();
        drop(w.into_inner().unwrap());
        let mut r = PcapReplay::open(&path, PcapFilter::ALL).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(drain(&mut r), vec![(42, b"on disk".to_vec())]);
    }

    proptest! {
        #[test]
        fn written_datagrams_replay_with_equal_payloads_and_timestamps(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..1500), 0..40)
        ) {
            let datagrams: Vec<_> = payloads
                .into_iter()
                .enumerate()
                .map(|(i, p)| (1_700_000_000_000_000_000 + i as u64 * 1_001, 26400, p))
                .collect();
            let mut r = PcapReplay::from_bytes(record(&datagrams), PcapFilter::ALL).unwrap();
            let got = drain(&mut r);
            let want: Vec<_> = datagrams.into_iter().map(|(t, _, p)| (t, p)).collect();
            prop_assert_eq!(got, want);
        }
    }
}

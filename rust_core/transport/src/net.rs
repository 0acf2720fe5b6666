//! Ethernet / 802.1Q / IPv4 / UDP header parsing and building, on slices.

use std::net::{Ipv4Addr, SocketAddrV4};

pub(crate) const ETH_LEN: usize = 14;
pub(crate) const IPV4_LEN: usize = 20;
pub(crate) const UDP_LEN: usize = 8;
/// Bytes of synthetic headers in front of each recorded payload.
pub(crate) const FRAME_OVERHEAD: usize = ETH_LEN + IPV4_LEN + UDP_LEN;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88A8;
const IPPROTO_UDP: u8 = 17;

/// The link layer in front of the IP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Link {
    /// DLT_EN10MB, with any number of 802.1Q / 802.1ad tags.
    Ethernet,
    /// DLT_RAW / DLT_IPV4: the frame starts at the IP header.
    RawIp,
    /// DLT_LINUX_SLL: 16-byte cooked header, protocol at offset 14.
    LinuxSll,
    /// DLT_NULL / DLT_LOOP: 4-byte address family.
    Null,
}

/// A UDP datagram found in a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UdpView {
    pub(crate) src: SocketAddrV4,
    pub(crate) dst: SocketAddrV4,
    /// Offset of the payload in the frame.
    pub(crate) offset: usize,
    /// Payload length (from the UDP header, bounded by the captured bytes).
    pub(crate) len: usize,
}

#[inline]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Finds the UDP payload in `frame`. `None` for anything that is not a whole,
/// unfragmented IPv4/UDP datagram (including truncated captures).
pub(crate) fn parse_udp(link: Link, frame: &[u8]) -> Option<UdpView> {
    let ip_at = match link {
        Link::RawIp => 0,
        Link::Null => 4,
        Link::LinuxSll => {
            if be16(frame, 14)? != ETHERTYPE_IPV4 {
                return None;
            }
            16
        }
        Link::Ethernet => {
            let mut at = 12;
            let mut ethertype = be16(frame, at)?;
            // At most two tags (802.1ad outer + 802.1Q inner) in practice; allow a few.
            for _ in 0..4 {
                if ethertype != ETHERTYPE_VLAN && ethertype != ETHERTYPE_QINQ {
                    break;
                }
                at += 4;
                ethertype = be16(frame, at)?;
            }
            if ethertype != ETHERTYPE_IPV4 {
                return None;
            }
            at + 2
        }
    };
    let ip = frame.get(ip_at..)?;
    let first = *ip.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0F) * 4;
    if ihl < IPV4_LEN || ip.len() < ihl {
        return None;
    }
    let total = usize::from(be16(ip, 2)?);
    let frag = be16(ip, 6)?;
    // More-fragments flag or a non-zero offset: not a whole datagram.
    if frag & 0x3FFF != 0 || ip[9] != IPPROTO_UDP || total < ihl + UDP_LEN {
        return None;
    }
    let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let udp = ip.get(ihl..)?;
    let src_port = be16(udp, 0)?;
    let dst_port = be16(udp, 2)?;
    let udp_len = usize::from(be16(udp, 4)?);
    if udp_len < UDP_LEN || udp_len > total - ihl {
        return None;
    }
    let len = udp_len - UDP_LEN;
    let offset = ip_at + ihl + UDP_LEN;
    if frame.len() < offset + len {
        return None;
    }
    Some(UdpView {
        src: SocketAddrV4::new(src_ip, src_port),
        dst: SocketAddrV4::new(dst_ip, dst_port),
        offset,
        len,
    })
}

/// The internet checksum (RFC 1071) of `data`, folded, not complemented.
fn ones_sum(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc as u16
}

/// IPv4 header checksum of a 20-byte header whose checksum field is zero.
pub(crate) fn ipv4_checksum(header: &[u8]) -> u16 {
    !fold(ones_sum(0, header))
}

/// The Ethernet address an IPv4 multicast group maps to (RFC 1112: 01:00:5e
/// and the group's low 23 bits).
pub(crate) const fn multicast_mac(group: std::net::Ipv4Addr) -> [u8; 6] {
    let d = group.octets();
    [0x01, 0x00, 0x5E, d[1] & 0x7F, d[2], d[3]]
}

/// Writes an Ethernet + IPv4 + UDP frame carrying `payload` at the start of
/// `out`, with valid IPv4 and UDP checksums, and returns its length; `None`
/// when `out` is too small or `payload` exceeds a UDP datagram. No allocation.
pub(crate) fn write_udp_frame(
    out: &mut [u8],
    macs: ([u8; 6], [u8; 6]),
    src: SocketAddrV4,
    dst: SocketAddrV4,
    ip_id: u16,
    payload: &[u8],
) -> Option<usize> {
    let len = FRAME_OVERHEAD + payload.len();
    if payload.len() > usize::from(u16::MAX) - IPV4_LEN - UDP_LEN || out.len() < len {
        return None;
    }
    let (src_mac, dst_mac) = macs;
    let (s, d) = (src.ip().octets(), dst.ip().octets());
    out[..6].copy_from_slice(&dst_mac);
    out[6..12].copy_from_slice(&src_mac);
    out[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());

    let udp_len = (UDP_LEN + payload.len()) as u16;
    let total = (IPV4_LEN + UDP_LEN + payload.len()) as u16;
    let ip = &mut out[ETH_LEN..ETH_LEN + IPV4_LEN];
    ip[..2].copy_from_slice(&[0x45, 0x00]);
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[4..6].copy_from_slice(&ip_id.to_be_bytes());
    ip[6..12].copy_from_slice(&[0x40, 0x00, 64, IPPROTO_UDP, 0, 0]); // DF, TTL 64, checksum 0
    ip[12..16].copy_from_slice(&s);
    ip[16..20].copy_from_slice(&d);
    let csum = ipv4_checksum(ip);
    ip[10..12].copy_from_slice(&csum.to_be_bytes());

    // UDP checksum over the pseudo-header, header and payload.
    let mut acc = ones_sum(0, &s);
    acc = ones_sum(acc, &d);
    acc += u32::from(IPPROTO_UDP) + u32::from(udp_len);
    acc += u32::from(src.port()) + u32::from(dst.port()) + u32::from(udp_len);
    acc = ones_sum(acc, payload);
    let mut ucsum = !fold(acc);
    if ucsum == 0 {
        ucsum = 0xFFFF; // zero means "no checksum" in IPv4 UDP
    }
    let udp = &mut out[ETH_LEN + IPV4_LEN..len];
    udp[..2].copy_from_slice(&src.port().to_be_bytes());
    udp[2..4].copy_from_slice(&dst.port().to_be_bytes());
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    udp[6..8].copy_from_slice(&ucsum.to_be_bytes());
    udp[UDP_LEN..].copy_from_slice(payload);
    Some(len)
}

/// Writes Ethernet + IPv4 + UDP headers and `payload` into `out` (replacing
/// its contents), with synthetic locally administered MACs (02:00 and the
/// IPv4 address) or the multicast mapping for groups. The caller has checked
/// `payload.len()` fits a datagram.
pub(crate) fn build_frame(
    out: &mut Vec<u8>,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    ip_id: u16,
    payload: &[u8],
) {
    let (s, d) = (src.ip().octets(), dst.ip().octets());
    let dst_mac = if dst.ip().is_multicast() {
        multicast_mac(*dst.ip())
    } else {
        [0x02, 0x00, d[0], d[1], d[2], d[3]]
    };
    let src_mac = [0x02, 0x00, s[0], s[1], s[2], s[3]];
    out.resize(FRAME_OVERHEAD + payload.len(), 0);
    let len = write_udp_frame(out, (src_mac, dst_mac), src, dst, ip_id, payload);
    out.truncate(len.unwrap_or(0));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn addr(a: [u8; 4], port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::from(a), port)
    }

    #[test]
    fn built_frame_parses_back_with_valid_checksums() {
        let mut f = Vec::new();
        let (src, dst) = (addr([10, 0, 0, 1], 4000), addr([233, 54, 12, 1], 26400));
        build_frame(&mut f, src, dst, 7, b"payload!");
        assert_eq!(f.len(), FRAME_OVERHEAD + 8);
        assert_eq!(&f[..3], &[0x01, 0x00, 0x5E]);
        // A header that includes its own checksum sums to 0xFFFF (complement 0).
        assert_eq!(ipv4_checksum(&f[ETH_LEN..ETH_LEN + IPV4_LEN]), 0);
        // The UDP checksum verifies too: pseudo-header + segment sums to 0xFFFF.
        let udp = &f[ETH_LEN + IPV4_LEN..];
        let mut acc = ones_sum(0, &f[ETH_LEN + 12..ETH_LEN + 20]);
        acc += u32::from(IPPROTO_UDP) + udp.len() as u32;
        assert_eq!(fold(ones_sum(acc, udp)), 0xFFFF);
        let v = parse_udp(Link::Ethernet, &f).unwrap();
        assert_eq!((v.src, v.dst), (src, dst));
        assert_eq!(&f[v.offset..v.offset + v.len], b"payload!");
    }

    #[test]
    fn vlan_tagged_frames_are_unwrapped() {
        let mut f = Vec::new();
        build_frame(
            &mut f,
            addr([1, 2, 3, 4], 1),
            addr([5, 6, 7, 8], 2),
            0,
            b"abc",
        );
        // Insert an 802.1ad outer tag and an 802.1Q inner tag after the MACs.
        let mut tagged = f[..12].to_vec();
        tagged.extend_from_slice(&[0x88, 0xA8, 0x00, 0x0A, 0x81, 0x00, 0x00, 0x64]);
        tagged.extend_from_slice(&f[12..]);
        let v = parse_udp(Link::Ethernet, &tagged).unwrap();
        assert_eq!(&tagged[v.offset..v.offset + v.len], b"abc");
    }

    #[test]
    fn fragments_non_udp_and_truncated_frames_are_refused() {
        let mut f = Vec::new();
        build_frame(
            &mut f,
            addr([1, 2, 3, 4], 1),
            addr([5, 6, 7, 8], 2),
            0,
            b"abcdef",
        );
        let mut frag = f.clone();
        frag[ETH_LEN + 6] |= 0x20; // more fragments
        assert!(parse_udp(Link::Ethernet, &frag).is_none());
        let mut tcp = f.clone();
        tcp[ETH_LEN + 9] = 6;
        assert!(parse_udp(Link::Ethernet, &tcp).is_none());
        assert!(parse_udp(Link::Ethernet, &f[..f.len() - 1]).is_none());
        assert!(parse_udp(Link::RawIp, &f[ETH_LEN..]).is_some());
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_frames_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            for link in [Link::Ethernet, Link::RawIp, Link::LinuxSll, Link::Null] {
                if let Some(v) = parse_udp(link, &bytes) {
                    prop_assert!(v.offset + v.len <= bytes.len());
                }
            }
        }
    }
}

//! Network ranges in CIDR notation, checked strictly (IPv4 and IPv6, prefix within the family's
//! width, no host bits set), for the asset register, the blocklist and project network ranges.

use std::net::IpAddr;

/// A network `address/prefix`; a bare address is its own /32 or /128. The error says what is
/// wrong (for host bits set, which network was meant).
pub fn parse_cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let s = s.trim();
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("{s:?} is not a network in CIDR notation (e.g. 10.1.0.0/16)"))?;
    let width: u8 = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => width,
        Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= width)
            .ok_or_else(|| format!("the prefix length of {s:?} must be 0 to {width}"))?,
        Some(_) => return Err(format!("the prefix length of {s:?} must be a number")),
    };
    let (bits, host_mask) = match ip {
        IpAddr::V4(a) => (
            u32::from(a) as u128,
            (u32::MAX as u128) >> prefix.min(32) as u32,
        ),
        IpAddr::V6(a) => (
            u128::from(a),
            u128::MAX.checked_shr(prefix as u32).unwrap_or(0),
        ),
    };
    if bits & host_mask != 0 {
        let network = match ip {
            IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::from((bits & !host_mask) as u32)),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::from(bits & !host_mask)),
        };
        return Err(format!(
            "{s:?} has host bits set; the network is {network}/{prefix}"
        ));
    }
    Ok((ip, prefix))
}

/// Whether two networks overlap (one contains the other).
pub fn overlaps(a: (IpAddr, u8), b: (IpAddr, u8)) -> bool {
    let len = a.1.min(b.1) as u32;
    match (a.0, b.0) {
        (IpAddr::V4(x), IpAddr::V4(y)) => {
            len == 0 || (u32::from(x) ^ u32::from(y)) >> (32 - len) == 0
        }
        (IpAddr::V6(x), IpAddr::V6(y)) => {
            len == 0 || (u128::from(x) ^ u128::from(y)) >> (128 - len) == 0
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_strict() {
        assert_eq!(parse_cidr("10.1.0.0/16").unwrap().1, 16);
        assert_eq!(parse_cidr("10.1.2.3").unwrap().1, 32);
        assert_eq!(parse_cidr("2001:db8::/32").unwrap().1, 32);
        assert_eq!(parse_cidr("0.0.0.0/0").unwrap().1, 0);
        assert_eq!(parse_cidr("::/0").unwrap().1, 0);
        assert!(
            parse_cidr("10.12.0.1/16")
                .unwrap_err()
                .contains("the network is 10.12.0.0/16")
        );
        assert!(
            parse_cidr("2001:db8::1/64")
                .unwrap_err()
                .contains("host bits")
        );
        assert!(parse_cidr("10.1.0.0/33").is_err());
        assert!(parse_cidr("10.1.0.0/+8").is_err());
        assert!(parse_cidr("10.1.0.0/").is_err());
        assert!(parse_cidr("10.1.0/24").unwrap_err().contains("CIDR"));
        assert!(parse_cidr("2001:db8::/129").is_err());
    }

    #[test]
    fn overlap_is_containment_either_way() {
        let n = |s| parse_cidr(s).unwrap();
        assert!(overlaps(n("10.0.0.0/8"), n("10.255.1.0/24")));
        assert!(overlaps(n("10.255.1.0/24"), n("10.0.0.0/8")));
        assert!(overlaps(n("0.0.0.0/0"), n("192.0.2.1")));
        assert!(!overlaps(n("10.0.0.0/8"), n("11.0.0.0/8")));
        assert!(!overlaps(n("10.0.0.0/8"), n("2001:db8::/32")));
        assert!(overlaps(n("2001:db8::/32"), n("2001:db8:ffff:1::/64")));
    }
}

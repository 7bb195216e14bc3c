//! Strict CIDR syntax: `address/prefix`, IPv4 or IPv6, prefix within the family's width and no
//! host bits set (10.12.0.0/16 yes, 10.12.0.1/16 no), so security incidents can later be traced
//! to the project by longest-prefix match.

use std::net::IpAddr;

/// The canonical form of a CIDR range, or why it is not one.
pub fn parse(s: &str) -> Result<String, String> {
    let s = s.trim();
    let (addr, prefix) = s
        .split_once('/')
        .ok_or_else(|| "must be a CIDR range such as 10.12.0.0/16".to_string())?;
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IPv4 or IPv6 address"))?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 3 {
        return Err("the prefix length must be a number".to_string());
    }
    let prefix: u32 = prefix
        .parse()
        .map_err(|_| "the prefix length must be a number".to_string())?;
    let (bits, width) = match addr {
        IpAddr::V4(a) => (u32::from(a) as u128, 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    };
    if prefix > width {
        return Err(format!("the prefix length must be at most {width}"));
    }
    let host_mask: u128 = if prefix == width {
        0
    } else {
        (1u128 << (width - prefix)) - 1
    };
    if bits & host_mask != 0 {
        return Err(format!(
            "has host bits set; the network is {}/{prefix}",
            match addr {
                IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::from((bits & !host_mask) as u32)),
                IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::from(bits & !host_mask)),
            }
        ));
    }
    Ok(format!("{addr}/{prefix}"))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn accepts_networks_and_refuses_the_rest() {
        assert_eq!(parse("10.12.0.0/16").unwrap(), "10.12.0.0/16");
        assert_eq!(parse("192.168.1.7/32").unwrap(), "192.168.1.7/32");
        assert_eq!(parse("0.0.0.0/0").unwrap(), "0.0.0.0/0");
        assert_eq!(parse("2001:DB8::/32").unwrap(), "2001:db8::/32");
        assert!(parse("10.12.0.1/16").unwrap_err().contains("10.12.0.0/16"));
        assert!(parse("10.12.0.0/33").is_err());
        assert!(parse("10.12.0.0").is_err());
        assert!(parse("10.12.0.0/").is_err());
        assert!(parse("10.12.0.0/+8").is_err());
        assert!(parse("10.12.0/16").is_err());
        assert!(parse("2001:db8::1/64").is_err());
        assert!(parse("2001:db8::/129").is_err());
        assert!(parse("example.org/24").is_err());
    }
}

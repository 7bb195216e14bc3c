//! Strict CIDR syntax: `address/prefix`, IPv4 or IPv6, prefix within the family's width and no
//! host bits set (10.12.0.0/16 yes, 10.12.0.1/16 no), so security incidents can later be traced
//! to the project by longest-prefix match.

/// The canonical form of a CIDR range, or why it is not one (the prefix is required here: a
/// project runs on ranges).
pub fn parse(s: &str) -> Result<String, String> {
    if !s.contains('/') {
        return Err("must be a CIDR range such as 10.12.0.0/16".to_string());
    }
    yiwang_kit::net::parse_cidr(s).map(|(addr, prefix)| format!("{addr}/{prefix}"))
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

//! National identifiers (shared/data/codes.md): unified social credit codes (GB 32100), resident
//! ID numbers (GB 11643), region codes (GB/T 2260) and mainland mobile numbers. Each check answers
//! `Err(rule)` with a sentence a client can show next to the field.

const USCC_CHARS: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// A code of digits and capital letters (item codes, catalogue codes), `min..=max` long. Every
/// identifier a caller sends is bounded before it reaches a query or an error message.
pub fn check_code(value: &str, min: usize, max: usize) -> Result<(), String> {
    if value.len() < min
        || value.len() > max
        || !value
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        Err(format!("must be {min} to {max} characters of 0-9 and A-Z"))
    } else {
        Ok(())
    }
}

/// An account (a token's `sub`) as another record names it: 1 to 128 printable ASCII
/// characters without spaces.
pub fn check_account(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > 128 || !value.bytes().all(|b| b.is_ascii_graphic()) {
        Err("must be an account: 1 to 128 printable ASCII characters without spaces".into())
    } else {
        Ok(())
    }
}

/// GB 32100: 18 characters over `0-9A-HJ-NPQRTUWXY`, the last a check character.
pub fn check_uscc(code: &str) -> Result<(), String> {
    let chars: Vec<char> = code.chars().collect();
    if chars.len() != 18 {
        return Err(format!(
            "must be 18 characters (GB 32100), got {}",
            chars.len()
        ));
    }
    let mut values = [0u32; 18];
    for (i, c) in chars.iter().enumerate() {
        match USCC_CHARS.find(*c) {
            Some(v) => values[i] = v as u32,
            None => {
                return Err(format!(
                    "character {} ({c:?}) is not allowed (GB 32100 uses 0-9 and A-Y without I, O, S, V, Z)",
                    i + 1
                ));
            }
        }
    }
    if uscc_check_value(&values[..17]) != values[17] {
        return Err("has a wrong check character (GB 32100)".to_string());
    }
    Ok(())
}

fn uscc_check_value(values: &[u32]) -> u32 {
    let sum: u32 = values.iter().zip(USCC_WEIGHTS).map(|(v, w)| v * w).sum();
    (31 - sum % 31) % 31
}

/// Completes the first 17 characters of a USCC with its check character (demo data, tests).
pub fn uscc_with_check(first17: &str) -> Option<String> {
    let values: Option<Vec<u32>> = first17
        .chars()
        .map(|c| USCC_CHARS.find(c).map(|v| v as u32))
        .collect();
    let values = values?;
    if values.len() != 17 {
        return None;
    }
    let check = USCC_CHARS.chars().nth(uscc_check_value(&values) as usize)?;
    Some(format!("{first17}{check}"))
}

/// The GB 11643 check character of the first 17 digits (`None` if they are not 17 digits).
fn resident_id_check(first17: &[u8]) -> Option<u8> {
    if first17.len() != 17 || !first17.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = first17
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(d, w)| (d - b'0') as u32 * w)
        .sum();
    Some(ID_CHECK[(sum % 11) as usize])
}

/// A resident ID completed with its check character (sample data, tests, benchmarks).
pub fn resident_id_with_check(first17: &str) -> Option<String> {
    resident_id_check(first17.as_bytes()).map(|c| format!("{first17}{}", c as char))
}

/// GB 11643: 6-digit region, birth date YYYYMMDD, 3-digit sequence, check digit or X.
pub fn check_resident_id(id: &str) -> Result<(), String> {
    let b = id.as_bytes();
    if b.len() != 18 {
        return Err(format!(
            "must be 18 characters (GB 11643), got {}",
            id.chars().count()
        ));
    }
    if !b[..17].iter().all(u8::is_ascii_digit)
        || !(b[17].is_ascii_digit() || b[17] == b'X' || b[17] == b'x')
    {
        return Err("must be 17 digits followed by a digit or X (GB 11643)".to_string());
    }
    let birth = &id[6..14];
    if chrono::NaiveDate::parse_from_str(birth, "%Y%m%d").is_err() || birth < "18000101" {
        return Err("has an impossible birth date (GB 11643)".to_string());
    }
    if resident_id_check(&b[..17]) != Some(b[17].to_ascii_uppercase()) {
        return Err("has a wrong check digit (GB 11643)".to_string());
    }
    Ok(())
}

/// Province-level prefixes of GB/T 2260.
const PROVINCES: [&str; 34] = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
    "81", "82",
];

/// GB/T 2260 region code (6 digits), extended to 9 (town) or 12 digits (village) as the
/// statistical division codes do; the first two digits must name a province.
pub fn check_region_code(code: &str) -> Result<(), String> {
    if !matches!(code.len(), 6 | 9 | 12) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(
            "must be 6 digits (GB/T 2260), or 9/12 digits for towns and villages".to_string(),
        );
    }
    if !PROVINCES.contains(&&code[..2]) {
        return Err(format!(
            "starts with {} which is no province of GB/T 2260",
            &code[..2]
        ));
    }
    Ok(())
}

/// Mainland mobile number: 11 digits, `1[3-9]\d{9}`.
pub fn check_mobile(phone: &str) -> Result<(), String> {
    let b = phone.as_bytes();
    if b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit)
    {
        Ok(())
    } else {
        Err("must be a mainland mobile number: 11 digits starting 13-19".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uscc() {
        assert!(check_uscc("91350100M000100Y43").is_ok());
        assert!(
            check_uscc("91350100M000100Y44")
                .unwrap_err()
                .contains("check")
        );
        assert!(check_uscc("91350100M000100Y4").unwrap_err().contains("18"));
        assert!(
            check_uscc("91350100M00010OY43")
                .unwrap_err()
                .contains("not allowed")
        );
        assert_eq!(
            uscc_with_check("91350100M000100Y4").as_deref(),
            Some("91350100M000100Y43")
        );
    }

    #[test]
    fn resident_id_completion_matches_the_check() {
        assert_eq!(
            resident_id_with_check("11010519491231002").as_deref(),
            Some("11010519491231002X")
        );
        assert_eq!(resident_id_with_check("1101051949123100"), None);
        assert!(check_resident_id(&resident_id_with_check("34052219800101003").unwrap()).is_ok());
    }

    #[test]
    fn resident_id() {
        assert!(check_resident_id("11010519491231002X").is_ok());
        assert!(check_resident_id("11010519491231002x").is_ok());
        assert!(
            check_resident_id("110105194912310021")
                .unwrap_err()
                .contains("check")
        );
        assert!(
            check_resident_id("11010519491331002X")
                .unwrap_err()
                .contains("birth")
        );
    }

    #[test]
    fn regions_and_phones() {
        assert!(check_region_code("340522").is_ok());
        assert!(check_region_code("340522100").is_ok());
        assert!(check_region_code("990522").is_err());
        assert!(check_region_code("34052").is_err());
        assert!(check_mobile("13912345678").is_ok());
        assert!(check_mobile("12912345678").is_err());
    }
}

//! Money in integer fen: checked sums, the panel's per-line rules (median, mean, min) and rates
//! in hundredths of a percent, all exact and rounded half up. No floating point until the rate
//! is shown.

/// Σ amounts, or `None` when the total would not fit in an `i64`.
pub fn checked_sum(amounts: impl IntoIterator<Item = i64>) -> Option<i64> {
    amounts
        .into_iter()
        .try_fold(0i64, |acc, a| acc.checked_add(a))
}

/// `(a + b) / 2` rounded half up, without overflow (both ≥ 0).
pub fn midpoint_half_up(a: i64, b: i64) -> i64 {
    let sum = a as i128 + b as i128;
    ((sum + 1) / 2) as i64
}

/// The median of the proposals; of an even count, the mean of the two middle values rounded
/// half up. `None` when there is none.
pub fn median(values: &[i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        midpoint_half_up(v[n / 2 - 1], v[n / 2])
    })
}

/// The mean rounded half up (values ≥ 0; the sum is taken in i128).
pub fn mean(values: &[i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as i128;
    let sum: i128 = values.iter().map(|&v| v as i128).sum();
    Some(((2 * sum + n) / (2 * n)) as i64)
}

/// How a line's approved amount follows from the experts' proposals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Median,
    Mean,
    Min,
}

impl Rule {
    pub fn parse(s: &str) -> Option<Rule> {
        match s {
            "" | "median" => Some(Rule::Median),
            "mean" => Some(Rule::Mean),
            "min" => Some(Rule::Min),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Median => "median",
            Rule::Mean => "mean",
            Rule::Min => "min",
        }
    }

    pub fn apply(self, values: &[i64]) -> Option<i64> {
        match self {
            Rule::Median => median(values),
            Rule::Mean => mean(values),
            Rule::Min => values.iter().copied().min(),
        }
    }
}

/// Rates in hundredths of a percent, rounded half up (220,000,000 of 2,110,000,000 → 1043), and
/// as a percentage with two decimals (10.43): the platform's one rounding rule.
pub use yiwang_kit::{percent as rate, percent_hundredths as rate_bp};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_checked() {
        assert_eq!(checked_sum([1, 2, 3]), Some(6));
        assert_eq!(checked_sum([i64::MAX]), Some(i64::MAX));
        assert_eq!(checked_sum([i64::MAX, 1]), None);
        assert_eq!(checked_sum([i64::MAX, i64::MAX]), None);
        assert_eq!(checked_sum([]), Some(0));
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[300, 100, 200]), Some(200));
        // Even: mean of the middle two, half up.
        assert_eq!(median(&[100, 200, 101, 0]), Some(101)); // (100 + 101) / 2 = 100.5 → 101
        assert_eq!(median(&[1, 2]), Some(2));
        assert_eq!(median(&[2, 4]), Some(3));
        assert_eq!(median(&[]), None);
        // Near the 64-bit limit: no overflow.
        assert_eq!(median(&[i64::MAX, i64::MAX - 1]), Some(i64::MAX));
        assert_eq!(median(&[i64::MAX, i64::MAX]), Some(i64::MAX));
    }

    #[test]
    fn mean_and_min() {
        assert_eq!(mean(&[1, 2]), Some(2)); // 1.5 → 2
        assert_eq!(mean(&[1, 1, 2]), Some(1)); // 1.33 → 1
        assert_eq!(mean(&[i64::MAX, i64::MAX, i64::MAX]), Some(i64::MAX));
        assert_eq!(Rule::Min.apply(&[5, 3, 9]), Some(3));
        assert_eq!(Rule::parse(""), Some(Rule::Median));
        assert_eq!(Rule::parse("max"), None);
    }

    #[test]
    fn the_reference_county_saves_10_43_percent() {
        assert_eq!(rate_bp(220_000_000, 2_110_000_000), 1043);
        assert_eq!(rate(220_000_000, 2_110_000_000), 10.43);
        // Half up: 1/8 = 12.5 % exactly; 1/3 = 33.333… %; 2/3 = 66.666… %.
        assert_eq!(rate_bp(1, 8), 1250);
        assert_eq!(rate_bp(1, 3), 3333);
        assert_eq!(rate_bp(2, 3), 6667);
        // 0.005 % rounds up to 0.01 %.
        assert_eq!(rate_bp(1, 20_000), 1);
        assert_eq!(rate_bp(0, 0), 0);
        assert_eq!(rate_bp(i64::MAX, i64::MAX), 10_000);
    }
}

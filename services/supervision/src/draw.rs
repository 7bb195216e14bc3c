//! The 双随机一公开 draw, version `yiwang-draw-v1`: a pure function of the published inputs, so
//! that anyone can re-run it and get the same picks. No I/O, no clock, no process randomness.
//!
//! # Inputs (published with the plan)
//! - `seed`: 32 bytes, written as 64 lowercase hex digits;
//! - `entity_ids`: the candidate entities (the target pool), ascending;
//! - `inspector_ids`: the candidate inspectors (the inspector pool), ascending;
//! - `exclusions`: pairs (inspector_id, entity_id) that must never be paired (recorded relations,
//!   and the pairs of the previous round of the same items);
//! - `targets`: how many entities to draw; `inspectors_per_target`: how many inspectors each.
//!
//! # Random stream
//! A stream labelled `label` (an ASCII string) is the concatenation of the blocks
//! `B(i) = SHA-256(seed_bytes || "yiwang-draw-v1" || label || u64_be(i))` for i = 0, 1, 2, …
//! (`||` is byte concatenation, `u64_be` the 8-byte big-endian encoding). Each block yields four
//! 64-bit numbers, read as big-endian from bytes 0..8, 8..16, 16..24, 24..32.
//!
//! A uniform number below `n` (n ≥ 1) is drawn by rejection: take the next 64-bit number `r`;
//! with `zone = floor((2^64 − 1) / n) · n`, if `r < zone` the answer is `r mod n`, otherwise take
//! the next number and try again.
//!
//! # Picks
//! 1. Targets: `a` = `entity_ids` (ascending). On the stream labelled `targets`, for
//!    i = 0 .. targets−1: `j = i + uniform(len(a) − i)`, swap `a[i]` and `a[j]`. The targets,
//!    in pick order, are `a[0 .. targets]`.
//! 2. Inspectors: for each target `t` in pick order, `b` = the `inspector_ids` (ascending) not
//!    paired with `t` in `exclusions`; on the stream labelled `inspectors:<t>` (t in decimal,
//!    e.g. `inspectors:1042`), the same partial Fisher–Yates shuffle picks `b[0 .. k]`, k =
//!    `inspectors_per_target`, in pick order.
//!
//! The result is the list of (target, its k inspectors) in pick order. If `targets` exceeds the
//! pool, or fewer than k inspectors remain for some target, there is no draw (an error that
//! names the field and the numbers).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const ALGORITHM: &str = "yiwang-draw-v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Exclusion {
    pub inspector_id: i64,
    pub entity_id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Pick {
    pub entity_id: i64,
    pub inspector_ids: Vec<i64>,
}

/// The published inputs of a draw (the JSON document `GET /v1/supervision/plans/{id}/draw`
/// answers; `picks` are there once drawn, and are ignored by [`draw`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Inputs {
    pub algorithm: String,
    pub seed: String,
    pub entity_ids: Vec<i64>,
    pub inspector_ids: Vec<i64>,
    pub exclusions: Vec<Exclusion>,
    pub targets: u32,
    pub inspectors_per_target: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub picks: Vec<Pick>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub plan_id: String,
}

/// Why there is no draw. `field` names the input at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawError {
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for DrawError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for DrawError {}

fn err(field: &'static str, message: String) -> DrawError {
    DrawError { field, message }
}

/// Parses a seed of 64 hex digits.
pub fn parse_seed(seed: &str) -> Result<[u8; 32], DrawError> {
    let s = seed.trim();
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(err(
            "seed",
            "must be 64 hexadecimal digits (32 bytes)".into(),
        ));
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("checked hex");
    }
    Ok(out)
}

pub fn seed_hex(seed: &[u8; 32]) -> String {
    seed.iter().map(|b| format!("{b:02x}")).collect()
}

/// The random stream of one label.
pub struct Stream {
    prefix: Sha256,
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl Stream {
    pub fn new(seed: &[u8; 32], label: &str) -> Stream {
        let mut prefix = Sha256::new();
        prefix.update(seed);
        prefix.update(ALGORITHM.as_bytes());
        prefix.update(label.as_bytes());
        Stream {
            prefix,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        if self.used == 32 {
            let mut h = self.prefix.clone();
            h.update(self.counter.to_be_bytes());
            self.block.copy_from_slice(&h.finalize());
            self.counter += 1;
            self.used = 0;
        }
        let v = u64::from_be_bytes(self.block[self.used..self.used + 8].try_into().unwrap());
        self.used += 8;
        v
    }

    /// Uniform in `0..n` (n ≥ 1), by rejection.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n >= 1);
        let zone = (u64::MAX / n) * n;
        loop {
            let r = self.next_u64();
            if r < zone {
                return r % n;
            }
        }
    }
}

/// Partial Fisher–Yates: the first `k` elements of `a` become the picks, in pick order.
fn partial_shuffle(a: &mut [i64], k: usize, stream: &mut Stream) {
    let n = a.len();
    for i in 0..k {
        let j = i + stream.below((n - i) as u64) as usize;
        a.swap(i, j);
    }
}

fn check_ascending(ids: &[i64], field: &'static str) -> Result<(), DrawError> {
    if ids.windows(2).any(|w| w[0] >= w[1]) {
        return Err(err(
            field,
            "must be strictly ascending (sorted, no duplicates)".into(),
        ));
    }
    Ok(())
}

/// Runs the draw. See the module documentation for the algorithm.
pub fn draw(inputs: &Inputs) -> Result<Vec<Pick>, DrawError> {
    if !inputs.algorithm.is_empty() && inputs.algorithm != ALGORITHM {
        return Err(err(
            "algorithm",
            format!("must be {ALGORITHM} (this implementation's version)"),
        ));
    }
    let seed = parse_seed(&inputs.seed)?;
    check_ascending(&inputs.entity_ids, "entity_ids")?;
    check_ascending(&inputs.inspector_ids, "inspector_ids")?;
    let k = inputs.inspectors_per_target as usize;
    if k < 2 {
        return Err(err(
            "inspectors_per_target",
            "must be at least 2 (every target is inspected by two or more inspectors)".into(),
        ));
    }
    let targets = inputs.targets as usize;
    if targets == 0 {
        return Err(err("targets", "must be at least 1".into()));
    }
    if targets > inputs.entity_ids.len() {
        return Err(err(
            "targets",
            format!(
                "the target pool has {} entities, fewer than the {} requested",
                inputs.entity_ids.len(),
                targets
            ),
        ));
    }
    if k > inputs.inspector_ids.len() {
        return Err(err(
            "inspectors_per_target",
            format!(
                "the inspector pool has {} inspectors, fewer than the {} required per target",
                inputs.inspector_ids.len(),
                k
            ),
        ));
    }
    let mut excluded: HashMap<i64, HashSet<i64>> = HashMap::new();
    for e in &inputs.exclusions {
        excluded
            .entry(e.entity_id)
            .or_default()
            .insert(e.inspector_id);
    }

    let mut a = inputs.entity_ids.clone();
    partial_shuffle(&mut a, targets, &mut Stream::new(&seed, "targets"));
    let mut picks = Vec::with_capacity(targets);
    let mut b = Vec::with_capacity(inputs.inspector_ids.len());
    for &t in &a[..targets] {
        b.clear();
        match excluded.get(&t) {
            Some(x) => b.extend(inputs.inspector_ids.iter().filter(|i| !x.contains(i))),
            None => b.extend_from_slice(&inputs.inspector_ids),
        }
        if b.len() < k {
            return Err(err(
                "inspectors_per_target",
                format!(
                    "entity {t} has {} eligible inspectors after conflict exclusions, fewer than the {k} required",
                    b.len()
                ),
            ));
        }
        partial_shuffle(
            &mut b,
            k,
            &mut Stream::new(&seed, &format!("inspectors:{t}")),
        );
        picks.push(Pick {
            entity_id: t,
            inspector_ids: b[..k].to_vec(),
        });
    }
    Ok(picks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(seed: &str) -> Inputs {
        Inputs {
            algorithm: ALGORITHM.into(),
            seed: seed.into(),
            entity_ids: (1..=200).collect(),
            inspector_ids: (1001..=1020).collect(),
            exclusions: vec![],
            targets: 20,
            inspectors_per_target: 2,
            ..Default::default()
        }
    }

    const S1: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const S2: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

    #[test]
    fn same_seed_same_picks_and_different_seed_different_picks() {
        let a = draw(&inputs(S1)).unwrap();
        let b = draw(&inputs(S1)).unwrap();
        let c = draw(&inputs(S2)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 20);
        let mut targets: Vec<i64> = a.iter().map(|p| p.entity_id).collect();
        targets.sort();
        targets.dedup();
        assert_eq!(targets.len(), 20, "targets are distinct");
        for p in &a {
            assert_eq!(p.inspector_ids.len(), 2);
            assert_ne!(p.inspector_ids[0], p.inspector_ids[1]);
        }
    }

    #[test]
    fn the_stream_is_the_documented_one() {
        // Block 0 of label "targets" computed by hand with the formula of the module docs.
        let seed = parse_seed(S1).unwrap();
        let mut h = Sha256::new();
        h.update(seed);
        h.update(b"yiwang-draw-v1");
        h.update(b"targets");
        h.update(0u64.to_be_bytes());
        let block = h.finalize();
        let mut s = Stream::new(&seed, "targets");
        assert_eq!(
            s.next_u64(),
            u64::from_be_bytes(block[0..8].try_into().unwrap())
        );
        assert_eq!(
            s.next_u64(),
            u64::from_be_bytes(block[8..16].try_into().unwrap())
        );
    }

    #[test]
    fn exclusions_are_honoured() {
        let mut i = inputs(S1);
        i.inspector_ids = (1001..=1004).collect();
        // Every entity is related to inspectors 1001 and 1002: only 1003 and 1004 remain.
        for e in 1..=200 {
            i.exclusions.push(Exclusion {
                inspector_id: 1001,
                entity_id: e,
            });
            i.exclusions.push(Exclusion {
                inspector_id: 1002,
                entity_id: e,
            });
        }
        for p in draw(&i).unwrap() {
            let mut got = p.inspector_ids.clone();
            got.sort();
            assert_eq!(got, vec![1003, 1004]);
        }
        i.exclusions.push(Exclusion {
            inspector_id: 1003,
            entity_id: 7,
        });
        i.targets = 200;
        let e = draw(&i).unwrap_err();
        assert_eq!(e.field, "inspectors_per_target");
        assert!(e.message.contains("entity 7 has 1 eligible"), "{e}");
    }

    #[test]
    fn pool_too_small_is_an_error_naming_the_numbers() {
        let mut i = inputs(S1);
        i.targets = 201;
        let e = draw(&i).unwrap_err();
        assert_eq!(e.field, "targets");
        assert!(
            e.message.contains("200") && e.message.contains("201"),
            "{e}"
        );
        let mut i = inputs(S1);
        i.inspector_ids = vec![1];
        assert_eq!(draw(&i).unwrap_err().field, "inspectors_per_target");
        let mut i = inputs(S1);
        i.seed = "xyz".into();
        assert_eq!(draw(&i).unwrap_err().field, "seed");
        let mut i = inputs(S1);
        i.entity_ids = vec![3, 2, 1];
        i.targets = 1;
        assert_eq!(draw(&i).unwrap_err().field, "entity_ids");
    }

    #[test]
    fn picks_are_roughly_uniform() {
        // 10 of 50 entities, 4,000 draws: each entity is expected 800 times.
        let mut counts = [0u32; 50];
        for n in 0..4000u32 {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&n.to_be_bytes());
            let i = Inputs {
                seed: seed_hex(&seed),
                entity_ids: (0..50).collect(),
                inspector_ids: vec![1, 2],
                targets: 10,
                inspectors_per_target: 2,
                ..Default::default()
            };
            for p in draw(&i).unwrap() {
                counts[p.entity_id as usize] += 1;
            }
        }
        for (e, c) in counts.iter().enumerate() {
            assert!((680..=920).contains(c), "entity {e} picked {c} times");
        }
        let mut s = Stream::new(&[7; 32], "x");
        let mut seen = [0u32; 3];
        for _ in 0..30_000 {
            seen[s.below(3) as usize] += 1;
        }
        assert!(
            seen.iter().all(|&c| (9_500..=10_500).contains(&c)),
            "{seen:?}"
        );
    }
}

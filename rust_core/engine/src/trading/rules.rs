//! Automatic adjustment rules: declared in Python, compiled here into a
//! fixed table the fast path evaluates on every requote (a few comparisons
//! per rule, no allocation, no Python).
//!
//! A rule is `when <metric> <above|below> <threshold> then <adjustment>`, for
//! one instrument or all. Every rule that holds contributes: widenings add
//! up, size percentages multiply, `pull` and `reduce_only` are or-ed. A rule
//! turning on or off is an event (logged, journaled with the rule's name as
//! its source).

use quotewire_strategy::Adjust;
use serde::{Deserialize, Serialize};

use crate::EngineError;

/// Most rules an engine holds (a bit per rule per instrument tracks which hold).
pub const MAX_RULES: usize = 64;

/// What a rule watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// The volatility estimate, ticks per square root of a second.
    Volatility,
    /// The spread estimate (EWMA), ticks.
    SpreadTicks,
    /// Touch imbalance, (bid qty - ask qty) / (bid qty + ask qty), -1..1.
    Imbalance,
    /// Absolute position, shares.
    AbsPosition,
    /// 1 while the feed is stale, else 0.
    FeedStale,
}

/// A rule as configured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Name, reported in events and the log as the change's source.
    pub name: String,
    /// Instrument id it applies to; none: every instrument.
    #[serde(default)]
    pub instrument: Option<u16>,
    /// What it watches.
    pub metric: Metric,
    /// Holds when the metric is above the threshold (else: below).
    pub above: bool,
    /// The threshold.
    pub threshold: f64,
    /// Ticks added to both half spreads while it holds.
    #[serde(default)]
    pub widen_ticks: u32,
    /// Quote sizes scaled to this percentage while it holds (100: unchanged).
    #[serde(default = "hundred")]
    pub size_pct: u32,
    /// Pull every quote while it holds.
    #[serde(default)]
    pub pull: bool,
    /// Quote only the side that shrinks the position while it holds.
    #[serde(default)]
    pub reduce_only: bool,
}

const fn hundred() -> u32 {
    100
}

/// A compiled rule.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Rule {
    instrument: Option<u16>,
    metric: Metric,
    above: bool,
    threshold: f64,
    adjust: Adjust,
}

/// The metrics of one instrument at one requote.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Metrics {
    /// Volatility, ticks per sqrt(s).
    pub volatility: f64,
    /// Spread, ticks.
    pub spread_ticks: f64,
    /// Touch imbalance.
    pub imbalance: f64,
    /// |position|, shares.
    pub abs_position: f64,
    /// Feed stale (1) or not (0).
    pub feed_stale: f64,
}

impl Metrics {
    const fn get(&self, m: Metric) -> f64 {
        match m {
            Metric::Volatility => self.volatility,
            Metric::SpreadTicks => self.spread_ticks,
            Metric::Imbalance => self.imbalance,
            Metric::AbsPosition => self.abs_position,
            Metric::FeedStale => self.feed_stale,
        }
    }
}

/// The compiled rule table.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    rules: Vec<Rule>,
    names: Vec<String>,
}

impl Rules {
    /// Compiles and validates the configured rules.
    pub fn compile(configs: &[RuleConfig]) -> Result<Self, EngineError> {
        let bad =
            |i: usize, m: String| Err(EngineError::InvalidArgument(format!("rules[{i}]: {m}")));
        if configs.len() > MAX_RULES {
            return Err(EngineError::InvalidArgument(format!(
                "rules: {} rules, at most {MAX_RULES}",
                configs.len()
            )));
        }
        let mut rules = Vec::with_capacity(configs.len());
        let mut names = Vec::with_capacity(configs.len());
        for (i, c) in configs.iter().enumerate() {
            if c.name.is_empty() || c.name.len() > 64 {
                return bad(i, format!("name = {:?}: 1 to 64 characters", c.name));
            }
            if names.contains(&c.name) {
                return bad(i, format!("name = {:?} is used twice", c.name));
            }
            if !c.threshold.is_finite() {
                return bad(i, format!("threshold = {}: a finite number", c.threshold));
            }
            if c.size_pct > 1_000 {
                return bad(i, format!("size_pct = {}: 0 to 1000", c.size_pct));
            }
            if c.widen_ticks > 100_000 {
                return bad(i, format!("widen_ticks = {}: 0 to 100000", c.widen_ticks));
            }
            rules.push(Rule {
                instrument: c.instrument,
                metric: c.metric,
                above: c.above,
                threshold: c.threshold,
                adjust: Adjust {
                    widen_ticks: c.widen_ticks,
                    size_pct: c.size_pct,
                    pull: c.pull,
                    reduce_only: c.reduce_only,
                },
            });
            names.push(c.name.clone());
        }
        Ok(Self { rules, names })
    }

    /// Number of rules.
    #[must_use]
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether a rule that applies to instrument `id` reads the sizes at the
    /// touch (the imbalance metric); otherwise only touch prices move a quote.
    #[must_use]
    pub fn reads_touch_sizes(&self, id: u16) -> bool {
        self.rules
            .iter()
            .any(|r| r.metric == Metric::Imbalance && r.instrument.is_none_or(|x| x == id))
    }

    /// The name of rule `i`.
    #[must_use]
    pub fn name(&self, i: usize) -> &str {
        self.names.get(i).map_or("", String::as_str)
    }

    /// The combined adjustment for instrument `id` and the bit set of the
    /// rules that hold. No allocation.
    #[must_use]
    pub fn evaluate(&self, id: u16, m: &Metrics) -> (Adjust, u64) {
        let mut adjust = Adjust {
            widen_ticks: 0,
            size_pct: 100,
            pull: false,
            reduce_only: false,
        };
        let mut active = 0u64;
        for (i, r) in self.rules.iter().enumerate() {
            if r.instrument.is_some_and(|x| x != id) {
                continue;
            }
            let v = m.get(r.metric);
            let holds = if r.above {
                v > r.threshold
            } else {
                v < r.threshold
            };
            if !holds {
                continue;
            }
            active |= 1 << i;
            adjust.widen_ticks = adjust.widen_ticks.saturating_add(r.adjust.widen_ticks);
            adjust.size_pct = adjust.size_pct * r.adjust.size_pct / 100;
            adjust.pull |= r.adjust.pull;
            adjust.reduce_only |= r.adjust.reduce_only;
        }
        (adjust, active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, metric: Metric, above: bool, threshold: f64) -> RuleConfig {
        RuleConfig {
            name: name.into(),
            instrument: None,
            metric,
            above,
            threshold,
            widen_ticks: 0,
            size_pct: 100,
            pull: false,
            reduce_only: false,
        }
    }

    #[test]
    fn rules_that_hold_combine_widening_sizes_and_flags() {
        let rules = Rules::compile(&[
            RuleConfig {
                widen_ticks: 2,
                size_pct: 50,
                ..rule("hot", Metric::Volatility, true, 1.0)
            },
            RuleConfig {
                widen_ticks: 1,
                size_pct: 50,
                ..rule("wide", Metric::SpreadTicks, true, 3.0)
            },
            RuleConfig {
                pull: true,
                ..rule("stale", Metric::FeedStale, true, 0.5)
            },
        ])
        .unwrap();
        let calm = Metrics::default();
        let (a, active) = rules.evaluate(1, &calm);
        assert_eq!(
            (a.widen_ticks, a.size_pct, a.pull, active),
            (0, 100, false, 0)
        );
        let hot = Metrics {
            volatility: 2.0,
            spread_ticks: 4.0,
            ..Metrics::default()
        };
        let (a, active) = rules.evaluate(1, &hot);
        assert_eq!(
            (a.widen_ticks, a.size_pct, a.pull, active),
            (3, 25, false, 0b11)
        );
        let stale = Metrics {
            feed_stale: 1.0,
            ..Metrics::default()
        };
        assert!(rules.evaluate(1, &stale).0.pull);
        assert_eq!(rules.name(2), "stale");
    }

    #[test]
    fn a_rule_for_one_instrument_leaves_the_others_alone() {
        let rules = Rules::compile(&[RuleConfig {
            instrument: Some(7),
            widen_ticks: 5,
            ..rule("seven", Metric::AbsPosition, true, 100.0)
        }])
        .unwrap();
        let m = Metrics {
            abs_position: 500.0,
            ..Metrics::default()
        };
        assert_eq!(rules.evaluate(7, &m).0.widen_ticks, 5);
        assert_eq!(rules.evaluate(8, &m).0.widen_ticks, 0);
    }

    #[test]
    fn bad_rules_are_refused_naming_the_field() {
        let e = Rules::compile(&[rule("x", Metric::Imbalance, true, f64::NAN)]).unwrap_err();
        assert!(e.to_string().contains("rules[0]: threshold = NaN"), "{e}");
        let e = Rules::compile(&[
            rule("x", Metric::Imbalance, true, 0.0),
            rule("x", Metric::Imbalance, false, 0.0),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("used twice"), "{e}");
    }
}

//! Fixture for dashboard tests: derives every kind of finding the dashboard shows from
//! real epoch inputs, with the names of the analytics contract, so the pages, the API,
//! `/metrics` and reports can be tested before (and independently of) the analytics
//! plugins. Scores: 100 for an included attestation, 0 for a miss (per epoch; the 1d
//! window is the mean over the epochs this instance saw). Group scores by client and
//! node, the network average; a recommendation per missing validator; earnings from
//! the balances' change since the first epoch seen; a 30-day projection band.
use std::collections::BTreeMap;
use vigil_plugin_sdk::prelude::*;

#[derive(Default)]
struct Findings {
    /// Per validator: (sum of epoch scores, epochs).
    seen: BTreeMap<u64, (f64, u32)>,
    /// Sum of balances at the first epoch seen, gwei.
    first_total: Option<i64>,
    first_epoch: u64,
}

#[derive(Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct Config {}

impl Plugin for Findings {
    type Config = Config;
    fn manifest() -> Manifest {
        Manifest::new("findings", "0.1.0")
            .subscribe(InputKind::Epoch)
            .config::<Config>()
    }
    fn configure(&mut self, _c: Config) -> Result<(), ConfigError> {
        Ok(())
    }
    fn evaluate(&mut self, input: &Input, out: &mut Output) -> Result<(), Error> {
        let Input::Epoch(e) = input else {
            return Ok(());
        };
        let c = &e.validators;
        let (mut idx, mut epoch_scores, mut day) = (Vec::new(), Vec::new(), Vec::new());
        let mut by_client: BTreeMap<String, (f64, u32)> = BTreeMap::new();
        let mut total = 0i64;
        let mut missing = Vec::new();
        for i in 0..c.index.len() {
            let Some(ok) = c.attested(i).known() else {
                continue;
            };
            let v = c.index[i];
            let score = if ok { 100.0 } else { 0.0 };
            let s = self.seen.entry(v).or_default();
            s.0 += score;
            s.1 += 1;
            idx.push(v);
            epoch_scores.push(score);
            day.push(s.0 / f64::from(s.1));
            let client = c.label("client", i).unwrap_or("unknown").to_string();
            let g = by_client.entry(client).or_default();
            g.0 += score;
            g.1 += 1;
            total += c.balance[i].max(0);
            if !ok {
                missing.push(v);
            }
        }
        if idx.is_empty() {
            return Ok(());
        }
        let mean = day.iter().sum::<f64>() / day.len() as f64;
        let mut effectiveness = ValidatorSeries::new("attestation_effectiveness_percent", 0);
        effectiveness.validators = idx.clone();
        effectiveness.values = epoch_scores.clone();
        out.validator_series(effectiveness);
        out.scores("attestation", "epoch", idx.clone(), epoch_scores);
        out.scores("composite", "1d", idx, day);
        for (client, (sum, n)) in by_client {
            out.subject_score(
                SubjectScore::new("composite", "1d", sum / f64::from(n)).subject("client", client),
            );
        }
        out.subject_score(SubjectScore::new("composite", "1d", mean).subject("network", "average"));
        for v in &missing {
            out.recommend(
                Recommendation::new(
                    Severity::High,
                    &format!("Validator {v} is not attesting"),
                    "Check its validator client: `systemctl status lodestar-validator`",
                )
                .subject("validator", v)
                .action("restart_validator_client"),
            );
        }
        out.check(if missing.is_empty() {
            Check::ok("attestations", "every watched validator attested")
        } else {
            Check::warn(
                "attestations",
                format!("{} validator(s) missed", missing.len()),
            )
        });
        let first = *self.first_total.get_or_insert(total);
        if self.first_epoch == 0 {
            self.first_epoch = e.epoch;
        }
        let earned = (total - first) as f64;
        out.series(SeriesPoint::new("earnings_gwei", earned).label("window", "all"));
        out.series(SeriesPoint::new("earnings_gwei", earned).label("window", "1d"));
        let epochs = (e.epoch - self.first_epoch).max(1) as f64;
        let per_epoch = earned / epochs;
        let epochs_30d = 30.0 * 86_400.0
            / f64::from(e.network.seconds_per_slot * e.network.slots_per_epoch).max(1.0);
        for (band, f) in [("low", 0.8), ("mid", 1.0), ("high", 1.2)] {
            out.series(
                SeriesPoint::new("projected_earnings_gwei", per_epoch * epochs_30d * f)
                    .label("horizon", "30d")
                    .label("band", band),
            );
        }
        Ok(())
    }
}
export_plugin!(Findings);

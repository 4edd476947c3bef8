//! Writes state, then fails when the tick's `wall_slot` is odd: the write must be
//! discarded. Also reads back what it wrote, to show reads see pending writes.
use vigil_plugin_sdk::prelude::*;

#[derive(Default)]
struct StateThenFail;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

impl Plugin for StateThenFail {
    type Config = Empty;
    fn manifest() -> Manifest {
        Manifest::new("state-then-fail", "0.1.0").subscribe(InputKind::Node)
    }
    fn configure(&mut self, _: Empty) -> Result<(), ConfigError> {
        Ok(())
    }
    fn evaluate(&mut self, input: &Input, out: &mut Output) -> Result<(), Error> {
        let Input::Node(n) = input else { return Ok(()) };
        let slot = n.wall_slot.unwrap_or(0);
        host::state::set_json("last", &slot).map_err(Error::msg)?;
        let back: Option<u64> = host::state::get_json("last");
        out.series(SeriesPoint::new(
            "read_back",
            back.unwrap_or(u64::MAX) as f64,
        ));
        if slot % 2 == 1 {
            return Err(Error::msg(format!("odd slot {slot}")));
        }
        Ok(())
    }
}
export_plugin!(StateThenFail);

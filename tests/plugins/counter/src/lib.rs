//! Fixture for hot-reload tests: reports the sequence number it was given (the node
//! input's `wall_slot`) and its build version (VIGIL_TEST_VERSION at build time), and
//! counts its calls in persistent state.
use vigil_plugin_sdk::prelude::*;

const VERSION: &str = match option_env!("VIGIL_TEST_VERSION") {
    Some(v) => v,
    None => "1",
};

#[derive(Default)]
struct Counter {
    label: String,
}

#[derive(Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    label: String,
}

impl Plugin for Counter {
    type Config = Config;
    fn manifest() -> Manifest {
        Manifest::new("counter", &format!("{VERSION}.0.0"))
            .subscribe(InputKind::Node)
            .config::<Config>()
    }
    fn configure(&mut self, c: Config) -> Result<(), ConfigError> {
        if c.label == "refuse" {
            return Err(ConfigError::key(
                "label",
                "\"refuse\" is refused on purpose",
            ));
        }
        self.label = c.label;
        Ok(())
    }
    fn evaluate(&mut self, input: &Input, out: &mut Output) -> Result<(), Error> {
        let Input::Node(n) = input else { return Ok(()) };
        let calls: u64 = host::state::get_json("calls").unwrap_or(0) + 1;
        host::state::set_json("calls", &calls).map_err(Error::msg)?;
        out.series(
            SeriesPoint::new("counter_seq", n.wall_slot.unwrap_or(0) as f64)
                .label("version", VERSION)
                .label("label", &self.label),
        );
        out.series(SeriesPoint::new("counter_calls", calls as f64));
        Ok(())
    }
}
export_plugin!(Counter);

//! Panics (index out of bounds) on every node tick.
use vigil_plugin_sdk::prelude::*;

#[derive(Default)]
struct Panics;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

impl Plugin for Panics {
    type Config = Empty;
    fn manifest() -> Manifest {
        Manifest::new("panics", "0.1.0").subscribe(InputKind::Node)
    }
    fn configure(&mut self, _: Empty) -> Result<(), ConfigError> {
        Ok(())
    }
    fn evaluate(&mut self, input: &Input, _: &mut Output) -> Result<(), Error> {
        let Input::Node(n) = input else { return Ok(()) };
        let v: Vec<u64> = Vec::new();
        let i = std::hint::black_box(n.consensus.len() + 7);
        Err(Error::msg(v[i]))
    }
}
export_plugin!(Panics);

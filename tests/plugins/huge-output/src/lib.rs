//! Returns ~40 MB of checks: the output cap must refuse it.
use vigil_plugin_sdk::prelude::*;

#[derive(Default)]
struct HugeOutput;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

impl Plugin for HugeOutput {
    type Config = Empty;
    fn manifest() -> Manifest {
        Manifest::new("huge-output", "0.1.0").subscribe(InputKind::Node)
    }
    fn configure(&mut self, _: Empty) -> Result<(), ConfigError> {
        Ok(())
    }
    fn evaluate(&mut self, _: &Input, out: &mut Output) -> Result<(), Error> {
        let text = "x".repeat(4096);
        for _ in 0..10_000 {
            out.check(Check::ok("spam", text.clone()));
        }
        Ok(())
    }
}
export_plugin!(HugeOutput);

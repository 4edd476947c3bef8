//! Returns a score outside 0..100: the host must refuse the output.
use vigil_plugin_sdk::prelude::*;

#[derive(Default)]
struct BadOutput;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

impl Plugin for BadOutput {
    type Config = Empty;
    fn manifest() -> Manifest {
        Manifest::new("bad-output", "0.1.0").subscribe(InputKind::Node)
    }
    fn configure(&mut self, _: Empty) -> Result<(), ConfigError> {
        Ok(())
    }
    fn evaluate(&mut self, _: &Input, out: &mut Output) -> Result<(), Error> {
        out.scores("attestation", "1d", vec![1, 2], vec![99.0, 250.0]);
        Ok(())
    }
}
export_plugin!(BadOutput);

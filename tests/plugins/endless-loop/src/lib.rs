//! Loops forever on every node tick: the CPU deadline must stop it.
use vigil_plugin_sdk::prelude::*;

#[derive(Default)]
struct EndlessLoop;

impl Plugin for EndlessLoop {
    type Config = serde_json::Value;
    fn manifest() -> Manifest {
        Manifest::new("endless-loop", "0.1.0").subscribe(InputKind::Node)
    }
    fn configure(&mut self, _: Self::Config) -> Result<(), ConfigError> {
        Ok(())
    }
    fn evaluate(&mut self, input: &Input, _: &mut Output) -> Result<(), Error> {
        let mut n: u64 = 0;
        loop {
            n = n.wrapping_add(std::hint::black_box(matches!(input, Input::Node(_)) as u64));
            std::hint::black_box(n);
        }
    }
}
export_plugin!(EndlessLoop);

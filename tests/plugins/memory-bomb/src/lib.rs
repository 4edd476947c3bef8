//! Allocates without end: the memory cap must stop it.
use vigil_plugin_sdk::prelude::*;

#[derive(Default)]
struct MemoryBomb {
    hoard: Vec<Vec<u8>>,
}

impl Plugin for MemoryBomb {
    type Config = Empty;
    fn manifest() -> Manifest {
        Manifest::new("memory-bomb", "0.1.0").subscribe(InputKind::Node)
    }
    fn configure(&mut self, _: Empty) -> Result<(), ConfigError> {
        Ok(())
    }
    fn evaluate(&mut self, _: &Input, _: &mut Output) -> Result<(), Error> {
        loop {
            self.hoard.push(vec![1u8; 8 << 20]);
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

export_plugin!(MemoryBomb);

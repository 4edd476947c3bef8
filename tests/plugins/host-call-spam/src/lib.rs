//! Calls the host in a tight loop: the host-call budget must stop it.
use vigil_plugin_sdk::prelude::*;

#[derive(Default)]
struct HostCallSpam;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

impl Plugin for HostCallSpam {
    type Config = Empty;
    fn manifest() -> Manifest {
        Manifest::new("host-call-spam", "0.1.0").subscribe(InputKind::Node)
    }
    fn configure(&mut self, _: Empty) -> Result<(), ConfigError> {
        Ok(())
    }
    fn evaluate(&mut self, _: &Input, _: &mut Output) -> Result<(), Error> {
        let mut t = 0i64;
        for _ in 0..10_000_000 {
            t = t.wrapping_add(host::now());
        }
        Err(Error::msg(format!("never reached {t}")))
    }
}
export_plugin!(HostCallSpam);

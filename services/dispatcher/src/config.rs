use std::str::FromStr;
use std::sync::Arc;

use recaudo_events::Channel;
use recaudo_providers::twilio::{TwilioConfig, TwilioSms};
use recaudo_providers::SmsProvider;
use recaudo_runtime::{ConfigError, Env, Infra};
use recaudo_simulators::twilio::{SimConfig, TwilioSimulator};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsProviderKind {
    /// The Twilio simulator, served by this process: nothing leaves the machine.
    Simulator,
    Twilio,
}

impl FromStr for SmsProviderKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "simulator" => Ok(SmsProviderKind::Simulator),
            "twilio" => Ok(SmsProviderKind::Twilio),
            other => Err(format!("{other:?} is not one of simulator, twilio")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub channel: Channel,
    pub sms_provider: SmsProviderKind,
    twilio: Option<TwilioConfig>,
}

impl Config {
    pub fn from_env(env: &Env, channel: Channel) -> Result<Self, ConfigError> {
        if channel != Channel::Sms {
            return Err(ConfigError::new(
                "--channel",
                channel.as_str(),
                "only the sms channel has a dispatcher so far",
            ));
        }
        // No default: the simulator is public (its routes are Twilio's API with demo credentials), so a process
        // serves it only when told to.
        let sms_provider: SmsProviderKind = env.optional("RECAUDO_SMS_PROVIDER")?.ok_or_else(|| {
            ConfigError::new(
                "RECAUDO_SMS_PROVIDER",
                "",
                "is required for the sms dispatcher: twilio, or simulator on a developer machine",
            )
        })?;
        let twilio = match sms_provider {
            SmsProviderKind::Simulator => None,
            SmsProviderKind::Twilio => {
                let required = |var: &str| {
                    env.raw(var)
                        .map(str::to_string)
                        .ok_or_else(|| ConfigError::new(var, "", "required with RECAUDO_SMS_PROVIDER=twilio"))
                };
                let config = TwilioConfig {
                    base_url: env
                        .get("RECAUDO_TWILIO_BASE_URL", recaudo_providers::twilio::DEFAULT_BASE_URL.to_string())?,
                    account_sid: required("RECAUDO_TWILIO_ACCOUNT_SID")?,
                    auth_token: required("RECAUDO_TWILIO_AUTH_TOKEN")?,
                    from: env.optional("RECAUDO_TWILIO_FROM")?,
                    messaging_service_sid: env.optional("RECAUDO_TWILIO_MESSAGING_SERVICE_SID")?,
                };
                // Validate now, so a bad setting stops the process at start-up with a clear message.
                TwilioSms::new(config.clone()).map_err(|e| ConfigError::new("RECAUDO_TWILIO_*", "", e))?;
                Some(config)
            }
        };
        Ok(Config { channel, sms_provider, twilio })
    }

    /// The provider client, and the simulator to serve when the provider is the simulator.
    pub(crate) fn provider(&self, infra: &Infra) -> anyhow::Result<(Arc<dyn SmsProvider>, Option<TwilioSimulator>)> {
        match (&self.twilio, self.sms_provider) {
            (Some(config), SmsProviderKind::Twilio) => Ok((Arc::new(TwilioSms::new(config.clone())?), None)),
            _ => {
                let sim = SimConfig::demo();
                let client = TwilioSms::new(TwilioConfig {
                    base_url: format!("{}{}", infra.local_url(), crate::SIMULATOR_PATH),
                    account_sid: sim.account_sid.clone(),
                    auth_token: sim.auth_token.clone(),
                    from: Some(SimConfig::DEMO_FROM.to_string()),
                    messaging_service_sid: None,
                })?;
                Ok((Arc::new(client), Some(TwilioSimulator::new(sim))))
            }
        }
    }
}

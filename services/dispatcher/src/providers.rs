//! Each channel's provider client, built from the settings, and the simulators this process serves when a
//! channel's provider is `simulator`. A simulator signs its webhooks with the same settings the client verifies
//! them with; where a secret is not set, it is random for the life of the process, so no secret in the source can
//! forge a webhook.

use std::sync::Arc;

use recaudo_events::Channel;
use recaudo_providers::meta::{MetaConfig, MetaWhatsapp};
use recaudo_providers::sendgrid::{SendGrid, SendGridConfig};
use recaudo_providers::smtp::{Smtp, SmtpConfig};
use recaudo_providers::twilio::{TwilioChannel, TwilioConfig, TwilioSms};
use recaudo_providers::MessagingProvider;
use recaudo_runtime::{secrets, ConfigError, Infra, Routes};
use recaudo_simulators::meta::{MetaSimConfig, MetaSimulator};
use recaudo_simulators::sendgrid::{SendGridSimConfig, SendGridSimulator};
use recaudo_simulators::twilio::{SimConfig, TwilioSimulator};

use crate::config::{required_with, ChannelConfig, Config, ProviderKind};

/// Where the Twilio simulator's API is mounted.
pub const TWILIO_SIMULATOR_PATH: &str = "/sim/twilio";
pub const SENDGRID_SIMULATOR_PATH: &str = "/sim/sendgrid";
pub const META_SIMULATOR_PATH: &str = "/sim/meta";
/// The sender address of the email simulator when none is set.
const SIMULATED_FROM_EMAIL: &str = "cobranza@recaudo.invalid";

/// The simulators this process serves, one per provider at most.
#[derive(Default)]
pub(crate) struct Simulators {
    pub twilio: Option<TwilioSimulator>,
    pub sendgrid: Option<SendGridSimulator>,
    pub meta: Option<MetaSimulator>,
}

impl Simulators {
    /// The simulators' provider APIs are public (they check the provider's own credentials, as the real ones do);
    /// their controls are protected routes of our own (see `simulator_control`).
    pub fn mount(self, mut routes: Routes) -> Routes {
        if let Some(sim) = &self.twilio {
            routes = routes.public_nest(TWILIO_SIMULATOR_PATH, sim.router());
        }
        if let Some(sim) = &self.meta {
            routes = routes.public_nest(META_SIMULATOR_PATH, sim.router());
        }
        if let Some(sim) = &self.sendgrid {
            routes = routes.public_nest(SENDGRID_SIMULATOR_PATH, sim.router());
        }
        routes.merge(crate::simulator_control::routes(self))
    }
}

/// A random secret of 32 hex digits, for a simulator whose secret is not set.
fn random_hex() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

pub(crate) fn build(
    infra: &Infra,
    config: &Config,
    channel: &ChannelConfig,
    sims: &mut Simulators,
) -> anyhow::Result<Arc<dyn MessagingProvider>> {
    let var = crate::config::provider_var(channel.channel);
    if channel.provider == ProviderKind::Simulator {
        tracing::warn!(
            channel = %channel.channel,
            "the {} channel runs on the provider simulator ({var}=simulator): no message reaches a debtor",
            channel.channel
        );
    }
    Ok(match (channel.channel, channel.provider) {
        (Channel::Sms, ProviderKind::Twilio) => {
            Arc::new(TwilioSms::for_channel(config.twilio_client(&var)?, TwilioChannel::Sms).map_err(bad(&var))?)
        }
        (Channel::Whatsapp, ProviderKind::Twilio) => {
            let mut client = config.twilio_client(&var)?;
            client.from = config.twilio.whatsapp_from.clone().or(client.from);
            Arc::new(TwilioSms::for_channel(client, TwilioChannel::Whatsapp).map_err(bad(&var))?)
        }
        (Channel::Sms, ProviderKind::Simulator) => {
            let sim = sims.twilio.get_or_insert_with(|| twilio_simulator(infra, config)).clone();
            let client = TwilioSms::for_channel(
                TwilioConfig {
                    base_url: format!("{}{TWILIO_SIMULATOR_PATH}", infra.local_url()),
                    account_sid: sim.config().account_sid.clone(),
                    auth_token: sim.config().auth_token.clone(),
                    from: Some(config.twilio.from.clone().unwrap_or_else(|| SimConfig::DEMO_FROM.to_string())),
                    messaging_service_sid: None,
                },
                TwilioChannel::Sms,
            )?;
            Arc::new(client)
        }
        (Channel::Whatsapp, ProviderKind::Meta) => {
            let m = &config.meta;
            let required = |value: Option<String>, name: &str| required_with(value, name, &var, "meta");
            let secret = |value: &Option<crate::config::Secret>| value.as_ref().map(|k| k.0.clone());
            let client = MetaConfig {
                base_url: m.base_url.clone().unwrap_or_else(|| recaudo_providers::meta::DEFAULT_BASE_URL.into()),
                api_version: m
                    .api_version
                    .clone()
                    .unwrap_or_else(|| recaudo_providers::meta::DEFAULT_API_VERSION.into()),
                phone_number_id: required(m.phone_number_id.clone(), "RECAUDO_META_PHONE_NUMBER_ID")?,
                access_token: required(secret(&m.access_token), "RECAUDO_META_ACCESS_TOKEN")?,
                app_secret: required(secret(&m.app_secret), "RECAUDO_META_APP_SECRET")?,
                verify_token: required(secret(&m.verify_token), "RECAUDO_META_VERIFY_TOKEN")?,
            };
            Arc::new(MetaWhatsapp::new(client).map_err(|e| ConfigError::new("RECAUDO_META_*", "", e))?)
        }
        (Channel::Whatsapp, ProviderKind::Simulator) => {
            let m = &config.meta;
            let secret = |value: &Option<crate::config::Secret>| value.as_ref().map(|k| k.0.clone());
            let demo = MetaSimConfig::demo();
            let sim = sims
                .meta
                .get_or_insert_with(|| {
                    MetaSimulator::new(MetaSimConfig {
                        phone_number_id: m.phone_number_id.clone().unwrap_or(demo.phone_number_id.clone()),
                        access_token: secret(&m.access_token).unwrap_or_else(random_hex),
                        app_secret: secret(&m.app_secret).unwrap_or_else(random_hex),
                        webhook_url: Some(format!("{}{}", infra.local_url(), recaudo_providers::meta::WEBHOOK_PATH)),
                        ..demo
                    })
                })
                .clone();
            let client = MetaWhatsapp::new(MetaConfig {
                base_url: format!("{}{META_SIMULATOR_PATH}", infra.local_url()),
                api_version: recaudo_providers::meta::DEFAULT_API_VERSION.into(),
                phone_number_id: sim.config().phone_number_id.clone(),
                access_token: sim.config().access_token.clone(),
                app_secret: sim.config().app_secret.clone(),
                verify_token: secret(&m.verify_token).unwrap_or_else(random_hex),
            })?;
            Arc::new(client)
        }
        (Channel::Email, ProviderKind::SendGrid) => {
            let s = &config.sendgrid;
            let required = |value: Option<String>, name: &str| required_with(value, name, &var, "sendgrid");
            let client = SendGridConfig {
                base_url: s.base_url.clone().unwrap_or_else(|| recaudo_providers::sendgrid::DEFAULT_BASE_URL.into()),
                api_key: required(s.api_key.as_ref().map(|k| k.0.clone()), "RECAUDO_SENDGRID_API_KEY")?,
                from_email: required(s.from_email.clone(), "RECAUDO_SENDGRID_FROM_EMAIL")?,
                from_name: s.from_name.clone(),
                webhook_public_key: required(s.webhook_public_key.clone(), "RECAUDO_SENDGRID_WEBHOOK_PUBLIC_KEY")?,
                inbound_user: required(s.inbound_user.clone(), "RECAUDO_SENDGRID_INBOUND_USER")?,
                inbound_password: required(
                    s.inbound_password.as_ref().map(|k| k.0.clone()),
                    "RECAUDO_SENDGRID_INBOUND_PASSWORD",
                )?,
            };
            Arc::new(SendGrid::new(client).map_err(|e| ConfigError::new("RECAUDO_SENDGRID_*", "", e))?)
        }
        (Channel::Email, ProviderKind::Smtp) => {
            let s = &config.smtp;
            let required = |value: Option<String>, name: &str| required_with(value, name, &var, "smtp");
            let url = required(s.url.as_ref().map(|u| u.0.clone()), "RECAUDO_SMTP_URL")?;
            secrets::check_url_password("RECAUDO_SMTP_URL", &url)?;
            let client = SmtpConfig {
                url,
                from_email: required(s.from_email.clone(), "RECAUDO_SMTP_FROM_EMAIL")?,
                from_name: s.from_name.clone(),
                timeout: s.timeout,
            };
            Arc::new(Smtp::new(client).map_err(|e| ConfigError::new("RECAUDO_SMTP_URL", "", e))?)
        }
        (Channel::Email, ProviderKind::Simulator) => {
            let s = &config.sendgrid;
            let sim = sims
                .sendgrid
                .get_or_insert_with(|| {
                    SendGridSimulator::new(SendGridSimConfig {
                        api_key: s.api_key.as_ref().map(|k| k.0.clone()).unwrap_or_else(random_hex),
                        events_url: Some(format!("{}/webhooks/sendgrid/events", infra.local_url())),
                        inbound_url: Some(format!("{}/webhooks/sendgrid/inbound", infra.local_url())),
                        inbound_user: s.inbound_user.clone().unwrap_or_else(|| "sendgrid".into()),
                        inbound_password: s.inbound_password.as_ref().map(|k| k.0.clone()).unwrap_or_else(random_hex),
                        ..SendGridSimConfig::demo()
                    })
                })
                .clone();
            let client = SendGrid::new(SendGridConfig {
                base_url: format!("{}{SENDGRID_SIMULATOR_PATH}", infra.local_url()),
                api_key: sim.config().api_key.clone(),
                from_email: s.from_email.clone().unwrap_or_else(|| SIMULATED_FROM_EMAIL.into()),
                from_name: s.from_name.clone(),
                webhook_public_key: sim.public_key_base64(),
                inbound_user: sim.config().inbound_user.clone(),
                inbound_password: sim.config().inbound_password.clone(),
            })?;
            Arc::new(client)
        }
        (channel, provider) => {
            return Err(
                ConfigError::new(&var, &format!("{provider:?}"), format!("is not available for {channel} yet")).into()
            )
        }
    })
}

fn bad(var: &str) -> impl Fn(recaudo_providers::twilio::TwilioConfigError) -> ConfigError + '_ {
    move |e| ConfigError::new(var, "twilio", e)
}

fn twilio_simulator(infra: &Infra, config: &Config) -> TwilioSimulator {
    let demo = SimConfig::demo();
    TwilioSimulator::new(SimConfig {
        account_sid: config.twilio.account_sid.clone().unwrap_or(demo.account_sid.clone()),
        auth_token: config.twilio.auth_token.as_ref().map(|s| s.0.clone()).unwrap_or_else(random_hex),
        inbound_webhook_url: Some(format!("{}/webhooks/twilio/sms/inbound", infra.public_url)),
        whatsapp_inbound_webhook_url: Some(format!("{}/webhooks/twilio/whatsapp/inbound", infra.public_url)),
        ..demo
    })
}

//! The dispatcher's settings: which channels this process runs and, for each, which provider. There is no default
//! provider: a simulator runs only when asked for by name (`RECAUDO_<CHANNEL>_PROVIDER=simulator`), so that a
//! forgotten setting in production stops the process instead of quietly "sending" to a simulator.

use std::time::Duration;

use recaudo_events::Channel;
use recaudo_providers::twilio::TwilioConfig;
use recaudo_runtime::secrets;
use recaudo_runtime::{ConfigError, Env};

/// The messaging channels a dispatcher can run, in the order `--target all` starts them.
pub const CHANNELS: [Channel; 3] = [Channel::Sms, Channel::Whatsapp, Channel::Email];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// The provider's simulator, served by this process: nothing leaves the machine.
    Simulator,
    Twilio,
    Meta,
    SendGrid,
    /// The lender's own relay.
    Smtp,
}

impl ProviderKind {
    /// The providers each channel can use, as `RECAUDO_<CHANNEL>_PROVIDER` names them.
    fn allowed(channel: Channel) -> &'static [(&'static str, ProviderKind)] {
        match channel {
            Channel::Sms => &[("simulator", ProviderKind::Simulator), ("twilio", ProviderKind::Twilio)],
            Channel::Whatsapp => &[
                ("simulator", ProviderKind::Simulator),
                ("meta", ProviderKind::Meta),
                ("twilio", ProviderKind::Twilio),
            ],
            Channel::Email => &[
                ("simulator", ProviderKind::Simulator),
                ("sendgrid", ProviderKind::SendGrid),
                ("smtp", ProviderKind::Smtp),
            ],
            _ => &[],
        }
    }
}

/// Calls a second to each channel's provider by default: Meta's default Cloud API throughput is 80 messages a
/// second; Twilio queues what a sender cannot take at once; SendGrid takes far more than one process sends.
fn default_rate(channel: Channel) -> u32 {
    match channel {
        Channel::Whatsapp => 80,
        Channel::Email => 100,
        _ => 30,
    }
}

/// The variable that names a channel's provider.
pub fn provider_var(channel: Channel) -> String {
    format!("RECAUDO_{}_PROVIDER", channel.as_str().to_ascii_uppercase())
}

#[derive(Debug, Clone)]
pub struct ChannelConfig {
    pub channel: Channel,
    pub provider: ProviderKind,
    /// Provider calls per second this process makes on the channel (`RECAUDO_<CHANNEL>_RATE_PER_SEC`).
    pub rate_per_sec: std::num::NonZeroU32,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub channels: Vec<ChannelConfig>,
    /// Twilio's account, for the SMS and Twilio WhatsApp clients and to verify Twilio's webhooks; in simulator mode
    /// the simulator uses the same values when they are set.
    pub twilio: TwilioSettings,
    pub meta: MetaSettings,
    pub sendgrid: SendGridSettings,
    pub smtp: SmtpSettings,
    /// How long after the provider accepted a message its status is looked up, when no final status came.
    pub reconcile_after: Duration,
    /// An attempt still `sending` this long after it was recorded was cut off (a worker's provider call takes at
    /// most its timeout, well under this).
    pub interrupted_after: Duration,
    /// The least time between the two searches of the provider's records that prove a cut-off message never
    /// arrived (`RECAUDO_ABSENCE_CONFIRM_SECS`).
    pub absence_confirm_after: Duration,
    /// Provider failures in a row that open the circuit (`RECAUDO_BREAKER_FAILURES`), and its first cooldown
    /// (`RECAUDO_BREAKER_COOLDOWN_SECS`, doubling while the provider keeps failing, 5 minutes at most).
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
    /// Where contacts requested by hand are passed on when the scheduler runs elsewhere (`RECAUDO_SCHEDULER_URL`;
    /// see `manual_forward`). Ignored when the scheduler runs in this process.
    pub scheduler_url: Option<String>,
    /// Crash tests only (`RECAUDO_CRASH_AT`, see `crash`).
    pub crash_at: Option<String>,
}

/// Raw Twilio settings: checked by the client's own constructor at start.
#[derive(Debug, Clone, Default)]
pub struct TwilioSettings {
    pub base_url: Option<String>,
    pub account_sid: Option<String>,
    pub auth_token: Option<Secret>,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub whatsapp_from: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct MetaSettings {
    pub base_url: Option<String>,
    pub api_version: Option<String>,
    pub phone_number_id: Option<String>,
    pub access_token: Option<Secret>,
    pub app_secret: Option<Secret>,
    pub verify_token: Option<Secret>,
}

#[derive(Debug, Clone, Default)]
pub struct SendGridSettings {
    pub base_url: Option<String>,
    pub api_key: Option<Secret>,
    pub from_email: Option<String>,
    pub from_name: Option<String>,
    pub webhook_public_key: Option<String>,
    pub inbound_user: Option<String>,
    pub inbound_password: Option<Secret>,
}

#[derive(Debug, Clone, Default)]
pub struct SmtpSettings {
    /// `smtp://user:password@relay:587?tls=required`, `smtps://...` (it holds the password).
    pub url: Option<Secret>,
    pub from_email: Option<String>,
    pub from_name: Option<String>,
    pub timeout: Duration,
}

/// A setting that must not reach a log through `{:?}`.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The setting `name`, which provider `provider` (chosen by `provider_var`) needs, checked as a secret where it is
/// one (see `recaudo_runtime::secrets`).
pub(crate) fn required_with(
    value: Option<String>,
    name: &str,
    provider_var: &str,
    provider: &str,
) -> Result<String, ConfigError> {
    let value = value.ok_or_else(|| ConfigError::new(name, "", format!("required with {provider_var}={provider}")))?;
    secrets::checked(name, value)
}

impl Config {
    /// The settings of a dispatcher running `channels`.
    pub fn from_env(env: &Env, channels: &[Channel]) -> Result<Self, ConfigError> {
        let mut list = Vec::new();
        for &channel in channels {
            let allowed = ProviderKind::allowed(channel);
            let names: Vec<&str> = allowed.iter().map(|(name, _)| *name).collect();
            if allowed.is_empty() {
                return Err(ConfigError::new(
                    "--channel",
                    channel.as_str(),
                    "has no dispatcher: the messaging channels are sms, whatsapp and email",
                ));
            }
            let var = provider_var(channel);
            let raw = env.raw(&var).map(str::trim).filter(|v| !v.is_empty()).ok_or_else(|| {
                ConfigError::new(
                    &var,
                    "",
                    format!(
                        "is required for the {channel} dispatcher: one of {} (simulator only on a developer machine)",
                        names.join(", ")
                    ),
                )
            })?;
            let provider = allowed
                .iter()
                .find(|(name, _)| *name == raw)
                .map(|(_, kind)| *kind)
                .ok_or_else(|| ConfigError::new(&var, raw, format!("is not one of {}", names.join(", "))))?;
            let rate_var = format!("RECAUDO_{}_RATE_PER_SEC", channel.as_str().to_ascii_uppercase());
            let rate = env.get(&rate_var, default_rate(channel))?;
            let rate_per_sec = std::num::NonZeroU32::new(rate)
                .ok_or_else(|| ConfigError::new(&rate_var, "0", "must be at least 1 call a second"))?;
            list.push(ChannelConfig { channel, provider, rate_per_sec });
        }
        let text = |var: &str| env.raw(var).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        let secret = |var: &str| text(var).map(Secret);
        let minutes = env.get("RECAUDO_RECONCILE_AFTER_SECS", 600u64)?;
        Ok(Config {
            channels: list,
            twilio: TwilioSettings {
                base_url: text("RECAUDO_TWILIO_BASE_URL"),
                account_sid: text("RECAUDO_TWILIO_ACCOUNT_SID"),
                auth_token: secret("RECAUDO_TWILIO_AUTH_TOKEN"),
                from: text("RECAUDO_TWILIO_FROM"),
                messaging_service_sid: text("RECAUDO_TWILIO_MESSAGING_SERVICE_SID"),
                whatsapp_from: text("RECAUDO_TWILIO_WHATSAPP_FROM"),
            },
            meta: MetaSettings {
                base_url: text("RECAUDO_META_BASE_URL"),
                api_version: text("RECAUDO_META_API_VERSION"),
                phone_number_id: text("RECAUDO_META_PHONE_NUMBER_ID"),
                access_token: secret("RECAUDO_META_ACCESS_TOKEN"),
                app_secret: secret("RECAUDO_META_APP_SECRET"),
                verify_token: secret("RECAUDO_META_VERIFY_TOKEN"),
            },
            sendgrid: SendGridSettings {
                base_url: text("RECAUDO_SENDGRID_BASE_URL"),
                api_key: secret("RECAUDO_SENDGRID_API_KEY"),
                from_email: text("RECAUDO_SENDGRID_FROM_EMAIL"),
                from_name: text("RECAUDO_SENDGRID_FROM_NAME"),
                webhook_public_key: text("RECAUDO_SENDGRID_WEBHOOK_PUBLIC_KEY"),
                inbound_user: text("RECAUDO_SENDGRID_INBOUND_USER"),
                inbound_password: secret("RECAUDO_SENDGRID_INBOUND_PASSWORD"),
            },
            smtp: SmtpSettings {
                url: secret("RECAUDO_SMTP_URL"),
                from_email: text("RECAUDO_SMTP_FROM_EMAIL"),
                from_name: text("RECAUDO_SMTP_FROM_NAME"),
                timeout: env.seconds("RECAUDO_SMTP_TIMEOUT_SECS", 30)?,
            },
            reconcile_after: Duration::from_secs(minutes.max(1)),
            interrupted_after: env.seconds("RECAUDO_INTERRUPTED_AFTER_SECS", 30)?,
            absence_confirm_after: env.seconds("RECAUDO_ABSENCE_CONFIRM_SECS", 300)?,
            breaker_failures: env.get("RECAUDO_BREAKER_FAILURES", 5u32)?.max(1),
            breaker_cooldown: env.seconds("RECAUDO_BREAKER_COOLDOWN_SECS", 5)?,
            crash_at: text("RECAUDO_CRASH_AT"),
            scheduler_url: match text("RECAUDO_SCHEDULER_URL") {
                Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                    return Err(ConfigError::new("RECAUDO_SCHEDULER_URL", &url, "expected an http:// or https:// URL"))
                }
                url => url.map(|u| u.trim_end_matches('/').to_string()),
            },
        })
    }

    /// The Twilio client settings, from the environment (a real account).
    pub(crate) fn twilio_client(&self, var_for: &str) -> Result<TwilioConfig, ConfigError> {
        let required = |value: &Option<String>, var: &str| required_with(value.clone(), var, var_for, "twilio");
        Ok(TwilioConfig {
            base_url: self
                .twilio
                .base_url
                .clone()
                .unwrap_or_else(|| recaudo_providers::twilio::DEFAULT_BASE_URL.to_string()),
            account_sid: required(&self.twilio.account_sid, "RECAUDO_TWILIO_ACCOUNT_SID")?,
            auth_token: required(&self.twilio.auth_token.as_ref().map(|s| s.0.clone()), "RECAUDO_TWILIO_AUTH_TOKEN")?,
            from: self.twilio.from.clone(),
            messaging_service_sid: self.twilio.messaging_service_sid.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn twilio(token: &str) -> Result<TwilioConfig, ConfigError> {
        let env = Env::from_pairs([
            ("RECAUDO_SMS_PROVIDER", "twilio"),
            ("RECAUDO_TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
            ("RECAUDO_TWILIO_AUTH_TOKEN", token),
        ]);
        Config::from_env(&env, &[Channel::Sms])?.twilio_client("RECAUDO_SMS_PROVIDER")
    }

    #[test]
    fn the_example_secrets_placeholder_stops_the_dispatcher_naming_the_variable() {
        let e = twilio("CHANGE_ME").unwrap_err();
        assert_eq!(e.var, "RECAUDO_TWILIO_AUTH_TOKEN");
        assert!(e.reason.contains("placeholder"), "{e}");
        let e = twilio("0123456789abcdef").unwrap_err();
        assert!(e.reason.contains("32 hexadecimal digits"), "{e}");
        assert!(twilio("0123456789abcdef0123456789abcdef").is_ok());
    }
}

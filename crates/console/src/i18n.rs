//! The console's words, Spanish first, English available. A page asks `t("key")`; a key missing here shows as
//! itself, and a test of each service checks that its templates' keys exist in both languages.

use serde::Serialize;

/// The cookie that keeps a person's language between pages.
pub const LANG_COOKIE: &str = "recaudo_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Lang {
    #[default]
    Es,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
        }
    }

    /// Anything but English is Spanish, the console's first language.
    pub fn from_code(code: &str) -> Lang {
        if code.trim().to_ascii_lowercase().starts_with("en") {
            Lang::En
        } else {
            Lang::Es
        }
    }
}

/// `(key, Spanish, English)`.
const WORDS: &[(&str, &str, &str)] = &[
    ("skip_to_content", "Ir al contenido", "Skip to content"),
    ("nav.label", "Secciones", "Sections"),
    ("nav.queue", "Mi cola", "My queue"),
    ("nav.team", "Mi equipo", "My team"),
    ("nav.home", "Inicio", "Home"),
    ("other_language", "English", "Español"),
    ("title.queue", "Mi cola", "My queue"),
    ("title.advisor_queue", "Cola del asesor", "Advisor's queue"),
    ("title.case", "Caso", "Case"),
    ("title.team", "Mi equipo", "My team"),
    ("title.home", "Consola", "Console"),
    ("home.lead", "Asesores que usted puede ver:", "Advisors you can see:"),
    ("queue.title", "Mi cola", "My queue"),
    (
        "queue.lead",
        "Casos por atender, lo más urgente primero. Se actualiza solo.",
        "Cases to work, most urgent first. Updates by itself.",
    ),
    ("queue.caption", "Casos abiertos", "Open cases"),
    ("queue.empty", "No hay casos abiertos.", "No open cases."),
    ("queue.advisor", "asesor", "advisor"),
    ("queue.supervisor", "supervisor", "supervisor"),
    ("queue.pool", "bolsa del equipo", "team pool"),
    ("col.debtor", "Cliente", "Debtor"),
    ("col.why", "Motivo", "Why"),
    ("col.overdue", "Vencido", "Overdue"),
    ("col.last_message", "Último mensaje", "Last message"),
    ("col.deadline", "Plazo", "Deadline"),
    ("col.state", "Estado", "State"),
    ("col.credit", "Crédito", "Credit"),
    ("col.product", "Producto", "Product"),
    ("col.balance", "Saldo total", "Total balance"),
    ("col.due_date", "Vencimiento", "Due date"),
    ("col.advisor", "Asesor", "Advisor"),
    ("priority.high", "Prioridad alta", "High priority"),
    ("reason.reply", "Respondió", "Replied"),
    ("reason.click", "Pidió hablar", "Asked to talk"),
    ("reason.call", "Llamar", "Call"),
    ("reason.broken_promise", "Promesa incumplida", "Broken promise"),
    ("reason.escalated", "Escalado", "Escalated"),
    ("days_past_due", "días de atraso", "days past due"),
    ("at_risk", "en riesgo", "at risk"),
    ("state.open", "Sin tomar", "Unclaimed"),
    ("state.claimed", "Tomado", "Claimed"),
    ("state.snoozed", "En espera", "Snoozed"),
    ("state.closed", "Cerrado", "Closed"),
    ("case.debtor", "Cliente", "Debtor"),
    ("case.phone", "Teléfono", "Phone"),
    ("case.credits", "Créditos", "Credits"),
    ("case.plan", "Plan de contacto", "Contact plan"),
    ("case.timeline", "Historial", "Timeline"),
    ("plan.loading", "Cargando el plan…", "Loading the plan…"),
    (
        "plan.unavailable",
        "El plan no está disponible ahora; el resto del caso sí.",
        "The plan is not available now; the rest of the case is.",
    ),
    ("plan.strategy", "Estrategia", "Strategy"),
    ("plan.no_strategy", "Ninguna estrategia aplica", "No strategy applies"),
    ("plan.stage", "Etapa", "Stage"),
    ("plan.law", "Ley aplicada", "Law applied"),
    ("plan.next", "Próximos contactos", "Next contacts"),
    ("plan.step", "Paso", "Step"),
    ("plan.when", "Desde", "From"),
    ("plan.not_allowed", "no permitido por ahora", "not allowed for now"),
    ("plan.nothing_next", "Ningún contacto automático pendiente.", "No automatic contact pending."),
    ("plan.held_back", "Lo que la ley o el cliente detienen", "What the law or the debtor holds back"),
    ("plan.hold", "Retención", "Hold"),
    ("plan.until", "hasta", "until"),
    ("case.no_history", "Sin historial todavía.", "No history yet."),
    ("case.actions", "Acciones", "Actions"),
    ("case.closed_with", "Caso cerrado con resultado:", "Case closed with outcome:"),
    ("tl.case_opened", "Caso abierto", "Case opened"),
    ("tl.click", "Clic en el enlace", "Link clicked"),
    ("tl.reply", "Mensaje del cliente", "Debtor's message"),
    ("tl.call_task", "Tarea de llamada", "Call task"),
    ("tl.attempt", "Envío", "Message sent"),
    ("tl.status", "Estado del envío", "Delivery status"),
    ("tl.outcome", "Resultado", "Outcome"),
    ("tl.note", "Nota", "Note"),
    ("tl.claim", "Caso tomado", "Case claimed"),
    ("tl.transfer", "Caso transferido", "Case transferred"),
    ("tl.escalation", "Escalado", "Escalated"),
    ("tl.warning", "Aviso de plazo", "Deadline warning"),
    ("tl.snooze", "En espera", "Snoozed"),
    ("tl.woken", "De vuelta en la cola", "Back in the queue"),
    ("tl.reply_sent", "Respuesta del asesor", "Advisor's reply"),
    ("tl.promise_made", "Promesa de pago", "Promise to pay"),
    ("tl.promise_kept", "Promesa cumplida", "Promise kept"),
    ("tl.promise_broken", "Promesa incumplida", "Promise broken"),
    ("outcome.promise", "Promesa de pago", "Promise to pay"),
    ("outcome.claimed_payment", "Dice que pagó", "Claims to have paid"),
    ("outcome.dispute", "Disputa", "Dispute"),
    ("outcome.call_back", "Volver a llamar", "Call back"),
    ("outcome.cant_pay", "No puede pagar", "Can't pay"),
    ("outcome.wont_pay", "No quiere pagar", "Won't pay"),
    ("outcome.wrong_number", "Número equivocado", "Wrong number"),
    ("outcome.refinancing_request", "Pide refinanciar", "Refinancing request"),
    ("outcome.legal_representation", "Tiene abogado", "Legal representation"),
    ("outcome.deceased", "Fallecido", "Deceased"),
    ("outcome.none", "ninguno", "none"),
    ("action.claim", "Tomar caso", "Claim case"),
    ("action.reply", "Responder", "Reply"),
    ("action.send", "Enviar", "Send"),
    ("action.outcome", "Resultado", "Outcome"),
    ("action.record", "Registrar y cerrar", "Record and close"),
    ("action.note", "Nota", "Note"),
    ("action.add_note", "Agregar nota", "Add note"),
    ("action.snooze_until", "En espera hasta", "Snooze until"),
    ("action.snooze", "Poner en espera", "Snooze"),
    ("action.transfer_to", "Transferir a", "Transfer to"),
    ("action.transfer", "Transferir", "Transfer"),
    ("action.done", "Hecho.", "Done."),
    ("field.channel", "Canal", "Channel"),
    ("field.template", "Plantilla", "Template"),
    ("field.outcome", "Resultado", "Outcome"),
    ("field.amount", "Monto", "Amount"),
    ("field.date", "Fecha", "Date"),
    ("field.reason", "Motivo", "Reason"),
    ("field.at", "Cuándo", "When"),
    ("team.title", "Asesores", "Advisors"),
    ("team.load", "Casos abiertos", "Open cases"),
    ("team.oldest", "Espera más antigua", "Oldest waiting"),
    ("team.at_risk", "En riesgo", "At risk"),
    ("team.breached", "Vencidos", "Breached"),
    ("team.broken_today", "Promesas rotas hoy", "Broken promises today"),
    ("team.away", "Ausencia", "Away"),
    ("team.back", "Marcar de vuelta", "Mark back"),
    ("team.reason", "Motivo de la ausencia", "Reason for absence"),
    ("team.mark_away", "Marcar ausente", "Mark away"),
    ("team.empty", "Sin asesores.", "No advisors."),
    ("team.queue", "Escalados y bolsa del equipo", "Escalated and team pool"),
    ("away.vacation", "Vacaciones", "Vacation"),
    ("away.sick_leave", "Incapacidad", "Sick leave"),
    ("live.case-opened", "Nuevo caso", "New case"),
    ("live.case-updated", "Caso actualizado", "Case updated"),
    ("live.case-escalated", "Caso escalado", "Case escalated"),
    ("error.title", "No se pudo", "Could not do it"),
    ("error.back", "Volver a la consola", "Back to the console"),
    ("role.admin", "administrador", "admin"),
    ("role.manager", "gerente", "manager"),
    ("role.supervisor", "supervisor", "supervisor"),
    ("role.advisor", "asesor", "advisor"),
    ("role.auditor", "auditor", "auditor"),
    ("role.service", "servicio", "service"),
    ("channel.sms", "SMS", "SMS"),
    ("channel.whatsapp", "WhatsApp", "WhatsApp"),
    ("channel.email", "correo", "email"),
    ("channel.voice", "llamada automática", "voice call"),
    ("channel.letter", "carta", "letter"),
    ("channel.call", "llamada del asesor", "advisor's call"),
    ("attempt.sent", "enviado", "sent"),
    ("attempt.failed", "no enviado", "not sent"),
    ("attempt.unknown", "sin confirmar", "unconfirmed"),
    ("status.queued", "en cola", "queued"),
    ("status.sent", "enviado", "sent"),
    ("status.delivered", "entregado", "delivered"),
    ("status.read", "leído", "read"),
    ("status.failed", "fallido", "failed"),
    ("status.undelivered", "no entregado", "undelivered"),
];

pub fn text(lang: Lang, key: &str) -> &str {
    match WORDS.iter().find(|(k, _, _)| *k == key) {
        Some((_, es, en)) => match lang {
            Lang::Es => es,
            Lang::En => en,
        },
        None => key,
    }
}

/// Whether `key` has words in both languages.
pub fn known(key: &str) -> bool {
    WORDS.iter().any(|(k, _, _)| *k == key)
}

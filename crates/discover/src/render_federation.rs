//! The spec's federation TODOs: `[[federation]]` and `[[sip_federation]]`, commented
//! out with their documentation, when the domain's records say it federates.

use crate::docs;
use crate::records::Kind;
use crate::render::Out;
use crate::Discovery;

pub(crate) fn federation(o: &mut Out, d: &Discovery) {
    let s2s = d.records(Kind::XmppServer);
    let sipfed = d.records(Kind::SipFederationTls);
    if s2s.is_empty() && sipfed.is_empty() {
        return;
    }
    o.doc(docs::get("federation"));
    if !s2s.is_empty() {
        o.note(format!(
            "TODO: {}.{} exists: the domain federates over XMPP; with which domains cannot be discovered.",
            Kind::XmppServer.label(),
            d.domain
        ));
        o.line("# [[federation]]");
        o.line("# domain = \"partner.example.net\"");
        o.doc(docs::get("federation.test_contact").replace("# ", "#   "));
        o.line("# test_contact = \"carol@partner.example.net\"");
        o.line("# password_env = \"IMPV_PARTNER_PASSWORD\"");
        o.doc(docs::get("federation.local_user").replace("# ", "#   "));
        o.line("# local_user = \"user1\"");
    }
    if !sipfed.is_empty() {
        let recs: Vec<String> = sipfed.iter().map(|s| s.to_string()).collect();
        o.doc(docs::get("sip_federation"));
        o.note(format!(
            "TODO: {}.{} exists ({}): the domain federates over SIP; with which domains cannot be discovered.",
            Kind::SipFederationTls.label(),
            d.domain,
            recs.join(", ")
        ));
        o.line("# [[sip_federation]]");
        o.line("# domain = \"partner-sip.example.org\"");
        o.doc(docs::get("sip_federation.tls_peer_subjects").replace("# ", "#   "));
        o.line("# tls_peer_subjects = [\"edge.partner-sip.example.org\"]");
        o.doc(docs::get("sip_federation.client_cert").replace("# ", "#   "));
        o.line("# client_cert = \"federation-client.pem\"");
        o.line("# client_key = \"federation-client.key\"");
    }
}

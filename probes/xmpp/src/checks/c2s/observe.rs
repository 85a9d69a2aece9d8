//! The observation: two connections to a node's client port, read without a credential.

use super::*;

/// Connects twice to `node`'s client port: once for its domain (features before and
/// after TLS, then the registration form asked for), once for [`UNSERVED_DOMAIN`].
pub async fn observe(c: &XmppCtx, node: &str, steps: &Steps) -> C2sFacts {
    let at = match c
        .connector
        .node(&c.spec, node, Service::XmppC2s, steps)
        .await
    {
        Ok(at) => at,
        Err(e) => {
            let u = Unseen::of(&e);
            return C2sFacts {
                addr: None,
                before_tls: Err(u.clone()),
                after_tls: Err(u.clone()),
                unserved: Err(u),
            };
        }
    };
    let (before_tls, after_tls) = Box::pin(own_domain(c, &at, steps)).await;
    let unserved = Box::pin(unserved(c, &at, steps)).await;
    C2sFacts {
        addr: Some(at.addr.to_string()),
        before_tls,
        after_tls,
        unserved,
    }
}

async fn own_domain(
    c: &XmppCtx,
    at: &ClientEndpoint,
    steps: &Steps,
) -> (Result<Features, Unseen>, Result<AfterTls, Unseen>) {
    let (features, xml, received) =
        match Box::pin(c.connector.open_plain(at, Opener::Client, steps)).await {
            Ok(open) => open,
            Err(e) => {
                let u = Unseen::of(&e);
                return (Err(u.clone()), Err(u));
            }
        };
    if let Some(e) = connector::without_tls(at, &features) {
        return (Ok(features), Err(Unseen::of(&e)));
    }
    let after = match Box::pin(c.connector.starttls(at, xml, &received, steps)).await {
        Err(e) => Err(Unseen::of(&e)),
        Ok((tls, facts)) => {
            let received = Received::default();
            let io: Io = BufStream::new(Capped::new(tls, MAX_STREAM_BYTES, received.clone()));
            match Box::pin(stream::open(
                io,
                Opener::Client,
                &at.domain,
                steps,
                &received,
            ))
            .await
            {
                Err(failure) => Err(Unseen::of(&ConnectFailure::Stream {
                    addr: at.addr,
                    failure,
                })),
                Ok((after, mut xml)) => Ok(AfterTls {
                    features: after,
                    verified: facts.verified(),
                    registration: ask_registration(&mut xml, steps, &received).await.map_err(
                        |failure| {
                            Unseen::of(&ConnectFailure::Stream {
                                addr: at.addr,
                                failure,
                            })
                        },
                    ),
                }),
            }
        }
    };
    (Ok(features), after)
}

/// Asks for the registration form (an IQ get: nothing is registered), and reads the
/// answer.
async fn ask_registration(
    xml: &mut XmppStream<Io>,
    steps: &Steps,
    received: &Received,
) -> Result<Registration, StreamFailure> {
    const ID: &str = "imp-verify-register";
    let stage = Stage::Stanza;
    let query = Element::builder("query", NS_REGISTER).build();
    let ask = async {
        let get = Stanza::Iq(Iq::Get {
            from: None,
            to: None,
            id: ID.to_string(),
            payload: query,
        });
        sasl::send(xml, XmppStreamElement::Stanza(get), stage, received).await?;
        loop {
            match sasl::next(xml, stage, received).await {
                Ok(XmppStreamElement::Stanza(Stanza::Iq(Iq::Result { id, payload, .. })))
                    if id == ID =>
                {
                    return Ok(Registration::Form(form_fields(payload.as_ref())))
                }
                Ok(XmppStreamElement::Stanza(Stanza::Iq(Iq::Error { id, error, .. })))
                    if id == ID =>
                {
                    return Ok(Registration::Refused(crate::stanzas::error_name(&error)))
                }
                Ok(_) => continue,
                Err(StreamFailure::StreamError {
                    condition, text, ..
                }) => {
                    let said = condition_name(&condition);
                    return Ok(Registration::Ended(Some(match text {
                        Some(t) => format!("<{said}/>: {t}"),
                        None => format!("<{said}/>"),
                    })));
                }
                Err(StreamFailure::Closed { .. }) => return Ok(Registration::Ended(None)),
                Err(e) => return Err(e),
            }
        }
    };
    steps.stream(stage, received, ask).await
}

/// The fields a registration form asks for (XEP-0077 §3.1, or its data form).
fn form_fields(payload: Option<&Element>) -> Vec<String> {
    let Some(q) = payload else {
        return Vec::new();
    };
    let mut fields: Vec<String> = q
        .children()
        .filter(|c| c.name() != "instructions" && c.name() != "x")
        .map(|c| c.name().to_string())
        .collect();
    for form in q.children().filter(|c| c.name() == "x") {
        fields.extend(
            form.children()
                .filter(|f| f.name() == "field" && f.attr("type") != Some("hidden"))
                .filter_map(|f| f.attr("var").map(String::from)),
        );
    }
    // A server may send the legacy fields and a data form of the same ones.
    let mut seen = Vec::new();
    for f in fields {
        let f = imp_verify_core::text::peer_text(&f);
        if !seen.contains(&f) {
            seen.push(f);
        }
    }
    seen
}

async fn unserved(c: &XmppCtx, at: &ClientEndpoint, steps: &Steps) -> Result<Unserved, Unseen> {
    let other = ClientEndpoint {
        domain: UNSERVED_DOMAIN.to_string(),
        ..at.clone()
    };
    match Box::pin(c.connector.open_plain(&other, Opener::Client, steps)).await {
        Ok((features, _, _)) => Ok(Unserved::Accepted(features)),
        Err(ConnectFailure::Stream {
            failure: StreamFailure::StreamError {
                condition, text, ..
            },
            ..
        }) => Ok(Unserved::Refused(condition_name(&condition), text)),
        Err(ConnectFailure::Stream {
            failure: StreamFailure::Closed { .. },
            ..
        }) => Ok(Unserved::Closed),
        Err(e) => Err(Unseen::of(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_forms_fields_are_read_from_both_shapes() {
        let legacy: Element = "<query xmlns='jabber:iq:register'><instructions>x</instructions><username/><password/></query>".parse().unwrap();
        assert_eq!(form_fields(Some(&legacy)), vec!["username", "password"]);
        let form: Element = "<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE' type='hidden'/><field var='username'/></x></query>".parse().unwrap();
        assert_eq!(form_fields(Some(&form)), vec!["username"]);
        // Prosody sends both, of the same fields.
        let both: Element = "<query xmlns='jabber:iq:register'><username/><password/><x xmlns='jabber:x:data' type='form'><field var='username'/><field var='password'/></x></query>".parse().unwrap();
        assert_eq!(form_fields(Some(&both)), vec!["username", "password"]);
    }
}

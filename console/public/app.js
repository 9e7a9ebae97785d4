/* Nudge decision console: reads the engine's JSON query API (api/…) and draws it with Chart.js. No other network access. */
(function () {
	'use strict';

	var PALETTE = ['#2f6fde', '#e8590c', '#2b8a3e', '#c2255c', '#7048e8', '#0c8599', '#f08c00', '#5c940d', '#862e9c', '#495057', '#d6336c', '#1098ad', '#74b816', '#ae3ec9'];
	/** One colour per status wherever statuses are drawn, matching the stream's (style.css): sent green, suppressed red. */
	var STATUS_COLOURS = { sent: '#067647', suppressed: '#b42318', failed: '#7a271a', delayed: '#f08c00', review: '#7048e8', pending: '#2f6fde', 'profile only': '#adb5bd', holdout: '#868e96' };
	/** Events that only updated the profile: logged suppressed with NOT_A_TRIGGER, but nothing was held back. */
	var PROFILE_ONLY = 'profile only';
	var state = { filter: {}, cursors: [], next: null, tab: 'stream', selected: null };

	/** The access token: from the link `nudge console` printed (#token=…), or Node-RED's editor login on the same origin. */
	var token = (function () {
		var m = location.hash.match(/token=([^&]+)/);
		if (m) {
			sessionStorage.setItem('nudgeConsoleToken', decodeURIComponent(m[1]));
			history.replaceState(null, '', location.pathname + location.search);
		}
		var saved = sessionStorage.getItem('nudgeConsoleToken');
		if (saved) return saved;
		// Node-RED's editor keeps its login in localStorage under "auth-tokens" + its path ("/admin" → "-admin").
		var editorPath = location.pathname.replace(/nudge\/(index\.html)?$/, '').slice(0, -1);
		try {
			var nr = JSON.parse(localStorage.getItem('auth-tokens' + editorPath.replace(/\//g, '-')) || 'null');
			if (nr && nr.access_token) return nr.access_token;
		} catch (e) { /* no Node-RED login here */ }
		return null;
	})();
	var engineId = new URLSearchParams(location.search).get('engine');

	function $(sel, root) { return (root || document).querySelector(sel); }
	function el(tag, attrs, children) {
		var node = document.createElement(tag);
		Object.keys(attrs || {}).forEach(function (k) {
			if (k === 'text') node.textContent = attrs[k];
			else if (k === 'class') node.className = attrs[k];
			else node.setAttribute(k, attrs[k]);
		});
		(children || []).forEach(function (c) { if (c != null) node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
		return node;
	}
	function fmt(v, digits) {
		if (v === null || v === undefined || v === '') return '—';
		if (typeof v === 'number') return digits === undefined ? String(v) : v.toFixed(digits);
		if (typeof v === 'boolean') return v ? 'yes' : 'no';
		if (typeof v === 'object') return JSON.stringify(v);
		return String(v);
	}
	function pct(v) { return v === undefined || v === null ? '—' : (v * 100).toFixed(2) + '%'; }
	function pp(v) { return (v >= 0 ? '+' : '') + (v * 100).toFixed(2) + ' pp'; }

	function api(path, params) {
		var q = new URLSearchParams();
		Object.keys(params || {}).forEach(function (k) { if (params[k] !== undefined && params[k] !== null && params[k] !== '') q.set(k, params[k]); });
		if (engineId) q.set('engine', engineId);
		var headers = token ? { Authorization: 'Bearer ' + token } : {};
		return fetch('api/' + path + (q.toString() ? '?' + q : ''), { headers: headers }).then(function (res) {
			if (res.status === 401) throw new Error('Not signed in: open the link `nudge console` printed (it carries the access token), or log in to the Node-RED editor in this browser first.');
			return res.json().then(function (body) {
				if (!res.ok) throw new Error(body.error || res.statusText);
				return body;
			}, function () { throw new Error('The console answered HTTP ' + res.status + ' ' + res.statusText); });
		});
	}
	function showError(error) {
		var box = $('#error');
		box.hidden = !error;
		box.textContent = error ? error.message || String(error) : '';
	}

	function table(target, head, rows, numeric) {
		var t = typeof target === 'string' ? $(target) : target;
		t.innerHTML = '';
		t.appendChild(el('thead', {}, [el('tr', {}, head.map(function (h, i) { return el('th', { text: h, class: numeric && numeric[i] ? 'num' : '' }); }))]));
		t.appendChild(el('tbody', {}, rows.map(function (r) {
			return el('tr', {}, r.map(function (c, i) { return c instanceof Node ? el('td', {}, [c]) : el('td', { text: fmt(c), class: numeric && numeric[i] ? 'num' : '' }); }));
		})));
		return t;
	}
	/** Draws on a canvas (an element or its id), replacing only the chart already on that canvas. */
	function chart(target, config) {
		var canvas = typeof target === 'string' ? document.getElementById(target) : target;
		var old = Chart.getChart(canvas);
		if (old) old.destroy();
		config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
		return new Chart(canvas, config);
	}
	/** Empties a box, first releasing the charts drawn inside it. */
	function clear(box) {
		Array.prototype.forEach.call(box.querySelectorAll('canvas'), function (canvas) { var c = Chart.getChart(canvas); if (c) c.destroy(); });
		box.innerHTML = '';
	}

	// ---- filters -------------------------------------------------------------------------------------
	function readFilter() {
		var form = $('#filters');
		var f = {};
		['journey', 'channel', 'reason', 'status', 'contact', 'from', 'to'].forEach(function (k) { var raw = form.elements[k].value; var v = k === 'contact' ? raw : raw.trim(); if (v.trim()) f[k] = v; /* a contact id is exact, as stored */ });
		return f;
	}

	// ---- views ---------------------------------------------------------------------------------------
	function loadTotals() {
		return api('totals', state.filter).then(function (t) {
			var box = $('#totals');
			box.innerHTML = '';
			box.appendChild(el('div', { class: 'kpi' }, [el('b', { text: String(t.total), 'data-testid': 'total' }), el('span', { text: 'decisions' })]));
			Object.keys(t.byStatus).sort().forEach(function (s) {
				box.appendChild(el('div', { class: 'kpi' }, [el('b', { text: String(t.byStatus[s]), 'data-testid': 'total-' + s, class: 'status-' + s }), el('span', { text: s })]));
			});
			if (t.profileOnly) box.appendChild(el('div', { class: 'kpi', title: 'Events that are not one of the journey\'s triggers (reason NOT_A_TRIGGER): they updated the profile; no message was meant, so none was suppressed.' }, [el('b', { text: String(t.profileOnly), 'data-testid': 'total-profile-only', class: 'status-profile-only' }), el('span', { text: 'profile updates only (no message)' })]));
			if (t.holdout) box.appendChild(el('div', { class: 'kpi', title: 'Decisions of the control group (reason HOLDOUT): no message by design, so lift has something to compare with; not a suppression.' }, [el('b', { text: String(t.holdout), 'data-testid': 'total-holdout', class: 'status-holdout' }), el('span', { text: 'holdout (control group, no message)' })]));
			$('#policy-info').textContent = t.policyVersions.length ? 'Decisions made under policy ' + t.policyVersions.map(function (p) { return p.version + ' (' + p.n + ')'; }).join(', ') : '';
		});
	}

	function loadStream(cursor) {
		return api('decisions', Object.assign({ limit: 25, cursor: cursor }, state.filter)).then(function (page) {
			var body = $('#stream-table tbody');
			body.innerHTML = '';
			page.rows.forEach(function (r) {
				var tr = el('tr', { 'data-decision-id': r.decisionId }, [
					el('td', { text: r.createdAt.replace('T', ' ').replace('.000Z', 'Z') }),
					el('td', { text: r.journey }),
					el('td', { text: fmt(r.eventName) }),
					el('td', { text: r.contactId }),
					r.reason === 'NOT_A_TRIGGER' ? el('td', { text: PROFILE_ONLY, class: 'status-profile-only', title: 'logged as suppressed, reason NOT_A_TRIGGER' }) : el('td', { text: r.status, class: 'status-' + r.status }),
					el('td', { text: fmt(r.reason) }),
					el('td', { text: fmt(r.channel) }),
					el('td', { text: fmt(r.scoreValue), class: 'num' }),
				]);
				if (r.decisionId === state.selected) tr.className = 'selected';
				tr.addEventListener('click', function () { openDecision(r.decisionId); });
				body.appendChild(tr);
			});
			if (!page.rows.length) body.appendChild(el('tr', {}, [el('td', { colspan: '8', text: 'No decision matches these filters.' })]));
			state.next = page.next || null;
			$('#next-page').disabled = !state.next;
			$('#first-page').disabled = state.cursors.length === 0;
			$('#page-info').textContent = 'Page ' + (state.cursors.length + 1) + ' · ' + page.rows.length + ' shown';
		});
	}

	function dl(pairs) {
		var list = el('dl');
		pairs.forEach(function (p) { if (p[1] !== undefined) { list.appendChild(el('dt', { text: p[0] })); list.appendChild(el('dd', { text: fmt(p[1]), 'data-field': p[0] })); } });
		return list;
	}
	function yesNo(v) { return el('span', { class: v ? 'yes' : 'no', text: v ? 'yes' : 'no' }); }

	function openDecision(id) {
		state.selected = id;
		Array.prototype.forEach.call(document.querySelectorAll('#stream-table tbody tr'), function (tr) { tr.className = tr.getAttribute('data-decision-id') === id ? 'selected' : ''; });
		return api('decisions/' + encodeURIComponent(id)).then(function (res) {
			var d = res.decision;
			var box = $('#detail');
			box.hidden = false;
			clear(box);
			box.appendChild(el('h2', { text: 'Decision ' + d.decisionId }));
			box.appendChild(dl([
				['Created', d.createdAt], ['Journey', d.journey], ['Contact', d.contactId], ['Status', d.status], ['Reason', d.reason], ['Rule', d.ruleId],
				['Why', d.explanation], ['Channel', d.channel], ['Policy version', d.policyVersion], ['Logged', d.loggedAt],
				['Holdout group', d.choice && d.choice.holdout ? d.choice.holdout.group + ' (bucket ' + d.choice.holdout.bucket + ')' : undefined],
			]));
			if (d.message) {
				box.appendChild(el('h3', { text: 'Message' }));
				box.appendChild(dl([['Category', d.message.category], ['Tags', d.message.tags ? d.message.tags.join(', ') : undefined], ['Offer value', d.message.offerValue], ['Variant', d.message.variant]]));
			}
			box.appendChild(el('h3', { text: 'Event' }));
			box.appendChild(dl(Object.keys(d.event).map(function (k) { return [k, d.event[k]]; })));
			if (res.features) {
				box.appendChild(el('h3', { text: "Contact's features (the profile now)" }));
				box.appendChild(table(el('table', { class: 'grid', id: 'features-table' }), ['Feature', 'Value'], Object.keys(res.features).sort().map(function (k) { return [k, res.features[k]]; })));
				if (res.consent && Object.keys(res.consent).length) box.appendChild(dl(Object.keys(res.consent).map(function (k) { return ['Consent: ' + k, res.consent[k]]; })));
			}
			if (d.score) {
				box.appendChild(el('h3', { text: 'Score' }));
				box.appendChild(dl([['Score', d.score.value], ['Probability', d.score.probability], ['Tier', d.score.tier], ['Model', d.score.model], ['Rules fallback', d.score.fallback], ['Note', d.score.note]]));
				var factors = d.score.factors || [];
				if (factors.length) {
					var canvas = el('canvas', { id: 'factors-chart' });
					box.appendChild(el('div', { class: 'chart small' }, [canvas]));
					chart(canvas, {
						type: 'bar',
						data: { labels: factors.map(function (f) { return f.label; }), datasets: [{ label: 'contribution', data: factors.map(function (f) { return f.contribution; }), backgroundColor: factors.map(function (f) { return f.contribution >= 0 ? '#2b8a3e' : '#c92a2a'; }) }] },
						options: { indexAxis: 'y', plugins: { legend: { display: false }, title: { display: true, text: 'Factors (+ raise the score, − lower it)' } } },
					});
					box.appendChild(table(el('table', { class: 'grid', id: 'factors-table' }), ['Factor', 'Contribution'], factors.map(function (f) { return [f.label, (f.contribution >= 0 ? '+' : '') + f.contribution]; }), [false, true]));
				}
			}
			if (d.candidates) {
				box.appendChild(el('h3', { text: 'Candidates' + (d.choice ? ' (chosen by ' + d.choice.method + ')' : '') }));
				box.appendChild(table(el('table', { class: 'grid', id: 'candidates-table' }), ['Channel', 'Rank', 'Eligible', 'Reason', 'Detail', 'Expected value (mean)', 'Sampled'],
					d.candidates.map(function (c) { return [c.channel, c.rank, yesNo(c.eligible), c.reason, c.detail, c.mean === undefined ? undefined : c.mean.toFixed(4), c.sampled === undefined ? undefined : c.sampled.toFixed(4)]; }),
					[false, true, false, false, false, true, true]));
			}
			if (d.guard) {
				box.appendChild(el('h3', { text: 'Guardrail checks: ' + d.guard.outcome }));
				box.appendChild(table(el('table', { class: 'grid', id: 'checks-table' }), ['Check', 'Rule', 'Passed', 'Count / limit', 'Window', 'Detail', 'Retry at'],
					d.guard.checks.map(function (c) { return [c.kind, c.ruleId, yesNo(c.passed), c.limit === undefined ? undefined : c.count + ' / ' + c.limit, c.window, (c.exempt ? '(exempt) ' : '') + (c.detail || ''), c.retryAt]; })));
			}
			if (d.variantChoice) {
				var vc = d.variantChoice;
				box.appendChild(el('h3', { text: 'Content variant for ' + vc.slot + ': ' + vc.variant + ' (' + vc.method + ')' }));
				box.appendChild(table(el('table', { class: 'grid', id: 'variants-table' }), ['Variant', 'Expected value (mean)', 'Sampled'], vc.estimates.map(function (e) { return [e.variant, e.mean.toFixed(4), e.sampled.toFixed(4)]; }), [false, true, true]));
			}
						if (d.sendTime) { box.appendChild(el('h3', { text: 'Send time' })); box.appendChild(dl([['Hour', d.sendTime.hour], ['Send at', d.sendTime.sendAt], ['Basis', d.sendTime.basis]])); }
			if (d.review) { box.appendChild(el('h3', { text: 'Human review' })); box.appendChild(dl([['Rules', d.review.rules.join(', ')], ['Verdict', d.review.verdict], ['Reviewer', d.review.reviewer], ['Note', d.review.note]])); }
			if (d.delivery) {
				box.appendChild(el('h3', { text: 'Delivery' }));
				box.appendChild(dl([['Provider', d.delivery.provider], ['Status', d.delivery.status], ['Attempts', d.delivery.attempts], ['HTTP status', d.delivery.httpStatus], ['Message id', d.delivery.providerMessageId], ['Error', d.delivery.error], ['At', d.delivery.at]]));
			}
			box.appendChild(el('h3', { text: 'Outcomes' }));
			if (d.outcomes.length) box.appendChild(table(el('table', { class: 'grid', id: 'outcomes-table' }), ['Type', 'Channel', 'Value', 'At'], d.outcomes.map(function (o) { return [o.type, o.channel, o.value, o.at]; })));
			else box.appendChild(el('p', { class: 'help', text: 'No outcome recorded yet.' }));
			box.appendChild(el('h3', { text: 'Trail' }));
			box.appendChild(table(el('table', { class: 'grid' }), ['Stage', 'At', 'Status'], d.trail.map(function (t) { return [t.stage, t.at, t.status]; })));
			box.scrollIntoView({ block: 'start' });
		});
	}

	function loadFunnel() {
		return api('funnel', state.filter).then(function (rows) {
			var box = $('#funnel-charts');
			clear(box);
			if (!rows.length) box.appendChild(el('p', { text: 'No decisions.' }));
			rows.forEach(function (j, i) {
				var canvas = el('canvas', { id: 'funnel-' + i });
				box.appendChild(el('div', { class: 'funnel' }, [el('h3', { text: 'Journey ' + j.journey }), el('div', { class: 'chart small' }, [canvas]),
					table(el('table', { class: 'grid', 'data-journey': j.journey }), j.stages.map(function (s) { return s.stage; }), [j.stages.map(function (s) { return s.n; })], j.stages.map(function () { return true; }))]));
				chart(canvas, { type: 'bar', data: { labels: j.stages.map(function (s) { return s.stage; }), datasets: [{ label: 'decisions', data: j.stages.map(function (s) { return s.n; }), backgroundColor: PALETTE[0] }] }, options: { plugins: { legend: { display: false } } } });
			});
		});
	}

	/** What the suppressions chart leaves out, said in its title. */
	function notCounted(s) {
		var apart = [];
		if (s.profileOnly) apart.push(s.profileOnly + ' events that only updated the profile');
		if (s.holdout) apart.push(s.holdout + ' holdout decisions');
		return apart.length ? ' (not counted: ' + apart.join(', ') + ')' : '';
	}

	function loadSuppressions() {
		return api('suppressions', state.filter).then(function (s) {
			chart('suppressions-chart', {
				type: 'bar',
				data: { labels: s.buckets, datasets: s.series.map(function (x, i) { return { label: x.reason, data: x.counts, backgroundColor: PALETTE[i % PALETTE.length] }; }) },
				options: { scales: { x: { stacked: true, title: { display: true, text: s.bucket === 'day' ? 'day (UTC)' : 'hour (UTC)' } }, y: { stacked: true, beginAtZero: true } }, plugins: { title: { display: true, text: s.total + ' suppressed decisions' + notCounted(s) } } },
			});
			table('#suppressions-table', ['Reason', 'Suppressed'], s.series.map(function (x) { return [x.reason, x.counts.reduce(function (a, b) { return a + b; }, 0)]; }), [false, true]);
		});
	}

	function statusBars(id, tableSel, rows, keyName) {
		var statuses = [];
		rows.forEach(function (r) { Object.keys(r.byStatus).forEach(function (s) { if (statuses.indexOf(s) < 0) statuses.push(s); }); });
		statuses.sort();
		chart(id, {
			type: 'bar',
			data: { labels: rows.map(function (r) { return r[keyName]; }), datasets: statuses.map(function (s, i) { return { label: s, data: rows.map(function (r) { return r.byStatus[s] || 0; }), backgroundColor: STATUS_COLOURS[s] || PALETTE[i % PALETTE.length] }; }) },
			options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
		});
		table(tableSel, [keyName].concat(statuses, ['total']), rows.map(function (r) { return [r[keyName]].concat(statuses.map(function (s) { return r.byStatus[s] || 0; }), [r.total]); }), [false].concat(statuses.map(function () { return true; }), [true]));
	}

	function loadChannels() { return api('channels', state.filter).then(function (rows) { statusBars('channels-chart', '#channels-table', rows, 'channel'); }); }
	function loadCaps() { return api('caps', state.filter).then(function (rows) { statusBars('caps-chart', '#caps-table', rows, 'rule'); }); }

	function loadModels() {
		return api('models', state.filter).then(function (m) {
			chart('roc-chart', {
				type: 'scatter',
				data: { datasets: m.evaluations.map(function (e, i) { return { label: e.model + (e.auc !== undefined ? ' (AUC ' + e.auc.toFixed(3) + ')' : ''), data: e.roc.map(function (p) { return { x: p.fpr, y: p.tpr }; }), showLine: true, borderColor: PALETTE[i % PALETTE.length], backgroundColor: PALETTE[i % PALETTE.length] }; })
					.concat([{ label: 'chance', data: [{ x: 0, y: 0 }, { x: 1, y: 1 }], showLine: true, borderDash: [4, 4], borderColor: '#adb5bd', pointRadius: 0 }]) },
				options: { plugins: { title: { display: true, text: 'ROC curve' } }, scales: { x: { min: 0, max: 1, title: { display: true, text: 'false positive rate' } }, y: { min: 0, max: 1, title: { display: true, text: 'true positive rate' } } } },
			});
			chart('calibration-chart', {
				type: 'scatter',
				data: { datasets: m.evaluations.map(function (e, i) { return { label: e.model, data: e.calibration.map(function (b) { return { x: b.meanPredicted, y: b.observedRate }; }), showLine: true, borderColor: PALETTE[i % PALETTE.length], backgroundColor: PALETTE[i % PALETTE.length] }; })
					.concat([{ label: 'perfect', data: [{ x: 0, y: 0 }, { x: 1, y: 1 }], showLine: true, borderDash: [4, 4], borderColor: '#adb5bd', pointRadius: 0 }]) },
				options: { plugins: { title: { display: true, text: 'Calibration: predicted vs observed conversion' } }, scales: { x: { min: 0, max: 1, title: { display: true, text: 'mean predicted probability' } }, y: { min: 0, max: 1, title: { display: true, text: 'observed conversion rate' } } } },
			});
			table('#models-table', ['Model', 'Scored decisions', 'Converted', 'AUC'], m.evaluations.map(function (e) { return [e.model, e.n, e.positives, e.auc === undefined ? 'n/a (needs both outcomes)' : e.auc.toFixed(3)]; }), [false, true, true, true]);
			var box = $('#history');
			box.innerHTML = '';
			if (!m.history.length) box.appendChild(el('p', { class: 'help', text: 'No trained model yet: scores come from the policy\'s rules (nudge train --name lead, then set scoring.model in the policy).' }));
			m.history.forEach(function (h) {
				box.appendChild(el('h3', { text: h.name }));
				box.appendChild(table(el('table', { class: 'grid' }), ['Version', 'Created', 'Active', 'Held-out AUC', 'Rows'], h.versions.map(function (v) { return ['v' + v.version, v.createdAt, yesNo(v.active), v.auc === undefined ? undefined : v.auc.toFixed(3), v.rows]; })));
				if (h.activations.length) box.appendChild(table(el('table', { class: 'grid' }), ['At', 'Action', 'Version', 'Previous', 'Note'], h.activations.map(function (a) { return [a.at, a.action, 'v' + a.version, a.previous === undefined ? undefined : 'v' + a.previous, a.note]; })));
			});
		});
	}

	function loadLift() {
		return api('lift', state.filter).then(function (rows) {
			var withCi = rows.filter(function (r) { return r.absolute; });
			chart('lift-chart', {
				type: 'bar',
				data: { labels: withCi.map(function (r) { return r.journey + ' · ' + r.arm; }), datasets: [
					{ label: '95% interval of the absolute lift (pp)', data: withCi.map(function (r) { return [r.absolute.low * 100, r.absolute.high * 100]; }), backgroundColor: 'rgba(47,111,222,0.35)', borderColor: PALETTE[0], borderWidth: 1 },
					{ type: 'scatter', label: 'estimate (pp)', data: withCi.map(function (r, i) { return { x: i, y: r.absolute.estimate * 100 }; }), backgroundColor: '#1d2433', pointRadius: 5 },
				] },
				options: { indexAxis: 'x', scales: { y: { title: { display: true, text: 'treated − holdout, percentage points' } } } },
			});
			table('#lift-table', ['Journey', 'Arm', 'Treated (conv/n)', 'Holdout (conv/n)', 'Absolute lift [95% CI]', 'Relative lift [95% CI]', 'Note'], rows.map(function (r) {
				return [r.journey, r.arm, pct(r.treated.rate) + ' (' + r.treated.conversions + '/' + r.treated.n + ')', pct(r.holdout.rate) + ' (' + r.holdout.conversions + '/' + r.holdout.n + ')',
					r.absolute ? pp(r.absolute.estimate) + ' [' + pp(r.absolute.low) + ', ' + pp(r.absolute.high) + ']' : 'n/a (' + r.unavailable + ')',
					r.relative ? pct(r.relative.estimate) + ' [' + pct(r.relative.low) + ', ' + pct(r.relative.high) + ']' : r.absolute ? 'n/a (no conversions in a group)' : 'n/a (' + r.unavailable + ')',
					r.warning ? 'WARNING: ' + r.warning : r.significant ? 'significant' : ''];
			}));
			return api('uplift', state.filter).then(drawUplift);
		});
	}

	/** Each gated journey's Qini curve with its band, beside the lift (docs/uplift.md). */
	function drawUplift(panels) {
		var box = $('#uplift');
		clear(box);
		if (!panels.length) box.appendChild(el('p', { class: 'help', text: 'No journey is gated on uplift (policy journeys.<id>.uplift).' }));
		panels.forEach(function (u, i) {
			box.appendChild(el('h3', { text: u.journey + ' · ' + u.model }));
			if (!u.evaluation) return box.appendChild(el('p', { class: 'help', text: u.note }));
			var e = u.evaluation;
			var per1000 = function (v) { return v * 1000; };
			box.appendChild(el('p', { 'data-testid': 'uplift-verdict-' + i, text: 'The model ' + e.verdict + '. Qini ' + e.qini.estimate.toFixed(4) + ' [' + e.qini.low.toFixed(4) + ', ' + e.qini.high.toFixed(4) + ']; average effect ' + pp(e.averageEffect.estimate) + '.' }));
			var wrap = el('div', { class: 'chart' });
			var canvas = el('canvas', { id: 'uplift-chart-' + i });
			wrap.appendChild(canvas);
			box.appendChild(wrap);
			chart(canvas, {
				type: 'line',
				data: { labels: e.curve.map(function (p) { return Math.round(p.fraction * 100) + '%'; }), datasets: [
					{ label: '95% band (high)', data: e.curve.map(function (p) { return per1000(p.high); }), borderWidth: 0, pointRadius: 0, backgroundColor: 'rgba(47,111,222,0.2)', fill: '+1' },
					{ label: '95% band (low)', data: e.curve.map(function (p) { return per1000(p.low); }), borderWidth: 0, pointRadius: 0, fill: false },
					{ label: 'model (Qini curve)', data: e.curve.map(function (p) { return per1000(p.qini); }), borderColor: PALETTE[0], backgroundColor: PALETTE[0], fill: false },
					{ label: 'random targeting', data: e.curve.map(function (p) { return per1000(p.random); }), borderColor: '#888', borderDash: [6, 4], pointRadius: 0, fill: false },
				] },
				options: { scales: { x: { title: { display: true, text: 'contacts messaged, highest predicted uplift first' } }, y: { title: { display: true, text: 'incremental conversions per 1,000 contacts' } } } },
			});
		});
	}

	var LOADERS = { stream: function () { return loadStream(state.cursors[state.cursors.length - 1]); }, funnel: loadFunnel, suppressions: loadSuppressions, channels: loadChannels, caps: loadCaps, models: loadModels, lift: loadLift };

	function show(tab) {
		state.tab = tab;
		Array.prototype.forEach.call(document.querySelectorAll('#tabs button'), function (b) { b.className = b.getAttribute('data-tab') === tab ? 'active' : ''; });
		Array.prototype.forEach.call(document.querySelectorAll('main > section'), function (s) { s.hidden = s.getAttribute('data-view') !== tab; });
		// Not loaded until this view is drawn: the marker of the view shown before must not stand for it.
		document.body.removeAttribute('data-loaded');
		document.body.setAttribute('data-loading', tab);
		return LOADERS[tab]().then(function () { showError(null); }, showError).then(function () { document.body.setAttribute('data-loaded', tab); document.body.removeAttribute('data-loading'); });
	}

	function apply() {
		state.filter = readFilter();
		state.cursors = [];
		state.selected = null;
		$('#detail').hidden = true;
		document.body.removeAttribute('data-loaded');
		return loadTotals().then(function () { return show(state.tab); }, showError);
	}

	function init(meta) {
		var notice = $('#pii-notice');
		notice.textContent = meta.piiNotice;
		notice.className = 'notice' + (meta.revealPii ? ' revealed' : '');
		$('#store-info').textContent = 'Store: ' + meta.store + ' · this engine\'s policy: ' + meta.policyVersion;
		[['channel', meta.channels], ['reason', meta.reasons], ['status', meta.statuses]].forEach(function (pair) {
			var select = $('#filters').elements[pair[0]];
			pair[1].forEach(function (v) { select.appendChild(el('option', { value: v, text: v })); });
		});
		$('#filters').addEventListener('submit', function (e) { e.preventDefault(); apply(); });
		$('#clear').addEventListener('click', function () { $('#filters').reset(); apply(); });
		$('#tabs').addEventListener('click', function (e) { var tab = e.target.getAttribute && e.target.getAttribute('data-tab'); if (tab) show(tab); });
		$('#next-page').addEventListener('click', function () { if (state.next) { state.cursors.push(state.next); show('stream'); } });
		$('#first-page').addEventListener('click', function () { state.cursors = []; show('stream'); });
		return apply();
	}

	api('meta').then(init, showError);
})();

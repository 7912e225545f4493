/*
 * A stand-in for iamport's browser SDK (V1, iamport.payment-1.2.0.js), served by the iamport
 * simulator: window.IMP with IMP.init(code) and IMP.request_pay(params, callback).
 *
 * request_pay opens the simulator's test payment window (GET /checkout) in an in-page overlay:
 * <div id="imp-sim-overlay"><iframe id="imp-sim-frame" name="imp-sim-frame"></div>.
 * The window answers through postMessage; only messages from the simulator's origin, from that
 * iframe and for that request are taken. The callback gets iamport's V1 response
 * {success, imp_uid, merchant_uid, paid_amount, status, error_code, error_msg, pay_method,
 *  vbank_num, vbank_name, vbank_holder, vbank_date, ...}; with m_redirect_url the page is sent
 * there instead (?imp_uid=&merchant_uid=&imp_success=true|false[&error_code=&error_msg=]).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var SIM = script && script.src ? new URL(script.src, location.href).origin : "__SIM_ORIGIN__";
  var userCode = null;
  var current = null; // the open window: {overlay, listener}

  function failure(params, code, message) {
    return {
      success: false, error_code: code, error_msg: message, imp_uid: null,
      merchant_uid: (params && params.merchant_uid) || null,
      pay_method: (params && params.pay_method) || null, paid_amount: 0, status: null,
      vbank_num: null, vbank_name: null, vbank_holder: null, vbank_date: null
    };
  }

  function deliver(callback, response) {
    if (typeof callback === "function") {
      setTimeout(function () { callback(response); }, 0);
    }
  }

  function randomId() {
    var bytes = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function closeWindow() {
    if (!current) return;
    window.removeEventListener("message", current.listener);
    if (current.overlay.parentNode) current.overlay.parentNode.removeChild(current.overlay);
    current = null;
  }

  function numeric(value) {
    return value === undefined || value === null || value === "" ? value : Number(value);
  }

  function request_pay(params, callback) {
    params = Object.assign({}, params || {});
    if (!userCode) {
      deliver(callback, failure(params, "F1000",
        "IMP.init() 으로 가맹점 식별코드를 먼저 설정해주세요."));
      return;
    }
    if (current) {
      deliver(callback, failure(params, "F1000", "결제창이 이미 열려 있습니다."));
      return;
    }
    if (!params.merchant_uid) params.merchant_uid = "nobody_" + Date.now();
    params.amount = numeric(params.amount);
    params.tax_free = numeric(params.tax_free);
    if (params.custom_data !== undefined && typeof params.custom_data !== "string") {
      params.custom_data = JSON.stringify(params.custom_data);
    }
    var session = randomId();
    var query = new URLSearchParams({
      session: session, parent_origin: location.origin, imp: String(userCode),
      params: JSON.stringify(params)
    });

    var overlay = document.createElement("div");
    overlay.id = "imp-sim-overlay";
    overlay.style.cssText = "position:fixed;inset:0;z-index:2147483647;display:flex;" +
      "align-items:center;justify-content:center;background:rgba(0,0,0,0.45);";
    var frame = document.createElement("iframe");
    frame.id = "imp-sim-frame";
    frame.name = "imp-sim-frame";
    frame.title = "결제창 (iamport simulator)";
    frame.style.cssText = "width:420px;max-width:96vw;height:560px;max-height:92vh;border:0;" +
      "border-radius:10px;background:#fff;box-shadow:0 8px 30px rgba(0,0,0,0.3);";
    frame.src = SIM + "/checkout?" + query.toString();
    overlay.appendChild(frame);

    var answered = false;
    function listener(event) {
      if (event.origin !== SIM || event.source !== frame.contentWindow) return;
      var data = event.data;
      if (!data || data.type !== "iamport-sim" || data.session !== session) return;
      if (data.kind === "result" && !answered) {
        answered = true;
        if (data.redirect) {
          closeWindow();
          location.href = data.redirect;
          return;
        }
        deliver(callback, data.response);
      }
      if (data.kind === "close" || (data.kind === "result" && data.close)) closeWindow();
    }
    window.addEventListener("message", listener);
    current = { overlay: overlay, listener: listener };
    (document.body || document.documentElement).appendChild(overlay);
  }

  window.IMP = {
    init: function (code) { userCode = code; },
    request_pay: request_pay,
    close: closeWindow
  };
})();

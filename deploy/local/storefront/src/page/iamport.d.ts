// iamport's browser SDK (v1, `IMP`), as far as this shop uses it.
export interface RequestPayParams {
  pg?: string;
  channelKey?: string;
  pay_method: "card" | "vbank" | "trans" | "phone" | "point";
  merchant_uid: string;
  name: string;
  amount: number;
  currency?: string;
  tax_free?: number;
  buyer_name?: string;
  buyer_email?: string;
  buyer_tel?: string;
  buyer_addr?: string;
  buyer_postcode?: string;
  notice_url?: string | string[];
  m_redirect_url?: string;
}

export interface RequestPayResponse {
  success?: boolean;
  imp_uid?: string | null;
  merchant_uid?: string;
  paid_amount?: number;
  status?: string;
  pay_method?: string;
  error_code?: string | null;
  error_msg?: string | null;
  vbank_num?: string | null;
  vbank_name?: string | null;
  vbank_holder?: string | null;
  vbank_date?: number | null;
}

export interface Iamport {
  init(merchantCode: string): void;
  request_pay(params: RequestPayParams, callback?: (response: RequestPayResponse) => void): void;
}

declare global {
  interface Window {
    IMP?: Iamport;
  }
}

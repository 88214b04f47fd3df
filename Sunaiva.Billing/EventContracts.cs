using Sunaiva.Billing.Commissions;
using Sunaiva.Billing.Payouts;
using Sunaiva.Billing.Subscriptions;
using Sunaiva.Billing.Webhooks.Handlers;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;

// The integration events this service publishes and consumes (docs/events.md is generated from these).
[assembly: PublishesEvent(EventTypes.SubscriptionActivated, typeof(SubscriptionChanged), When = "A subscription mirrored from Stripe becomes active or trialing.")]
[assembly: PublishesEvent(EventTypes.SubscriptionCanceled, typeof(SubscriptionChanged), When = "A subscription mirrored from Stripe ends (canceled, unpaid, incomplete_expired).")]
[assembly: PublishesEvent(EventTypes.PaymentFailed, typeof(PaymentFailed), When = "A renewal payment fails or needs action, once per invoice attempt; the grace period starts.")]
[assembly: PublishesEvent(EventTypes.PaymentRecovered, typeof(PaymentRecovered), When = "An invoice of a subscription with an open payment failure is paid.")]
[assembly: PublishesEvent(EventTypes.CommissionEarned, typeof(CommissionEarned), When = "A referred user's paid invoice earns the influencer a commission.")]
[assembly: PublishesEvent(EventTypes.CommissionClawedBack, typeof(CommissionClawedBack), When = "A refund or a lost dispute takes back (part of) a commission, once per ledger entry.")]
[assembly: PublishesEvent(EventTypes.PayoutSent, typeof(PayoutStatement), When = "A monthly payout transfer to an influencer is confirmed by Stripe.")]
[assembly: PublishesEvent(EventTypes.PayoutFailed, typeof(PayoutStatement), When = "A payout transfer fails or is reversed, or a bank payout fails.")]
[assembly: ConsumesEvent(EventTypes.UserSignedUp, typeof(UserSignedUp), Effect = "Attributes the user to the referral code given at signup.")]

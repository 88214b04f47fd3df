using Sunaiva.Engagement.BillingMail;
using Sunaiva.Engagement.Reports;
using Sunaiva.Engagement.Welcome;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;

// The integration events this service publishes and consumes (docs/events.md is generated from these).
[assembly: PublishesEvent(EventTypes.UserSignedUp, typeof(UserSignedUp), When = "The conversation backend posts a new user to POST /internal/events (re-published with the backend's event id).")]
[assembly: PublishesEvent(EventTypes.UserActive, typeof(UserActive), When = "The conversation backend posts a user's activity to POST /internal/events.")]
[assembly: ConsumesEvent(EventTypes.UserSignedUp, typeof(UserSignedUp), Effect = "Starts the welcome series (day-0 email, later steps scheduled); starts the inactivity timer; counts a referred signup for the influencer reports.")]
[assembly: ConsumesEvent(EventTypes.PaymentFailed, typeof(PaymentFailedData), Effect = "Sends the dunning email, once per attempt; the user enters the payment-failed segment.")]
[assembly: ConsumesEvent(EventTypes.PaymentRecovered, typeof(PaymentRecoveredData), Effect = "Confirms the recovered payment by email; the user leaves the payment-failed segment.")]
[assembly: ConsumesEvent(EventTypes.PayoutSent, typeof(PayoutStatementData), Effect = "Mails the influencer's payout statement and performance report; records the payout and who owns the referral code.")]
[assembly: ConsumesEvent(EventTypes.PayoutFailed, typeof(PayoutStatementData), Effect = "Tells the influencer the payout failed and why.")]
[assembly: ConsumesEvent(EventTypes.VoiceSessionEnded, typeof(VoiceSessionEndedData), Effect = "Records that the user tried voice: the welcome step asking for it is skipped; counts as activity for the segments.")]
[assembly: ConsumesEvent(EventTypes.FileIndexed, typeof(FileIndexedData), Effect = "Records that the user filled their vault: the welcome step asking for it is skipped; counts as activity for the segments.")]
[assembly: ConsumesEvent(EventTypes.SubscriptionActivated, typeof(SubscriptionActivatedData), Effect = "Records that the user subscribed: the welcome step asking for it is skipped; a referred user counts as a conversion.")]
[assembly: ConsumesEvent(EventTypes.VideoReady, typeof(VideoReady), Effect = "Keeps the user's onboarding video link for the welcome emails.")]
[assembly: ConsumesEvent(EventTypes.UserActive, typeof(UserActive), Effect = "Keeps the user's activity: leaves the inactivity segments (stopping their re-engagement mails), weekly counts for falling activity.")]
[assembly: ConsumesEvent(EventTypes.SubscriptionCanceled, typeof(SubscriptionChangedData), Effect = "Influencer reports: the referred subscriber is no longer active.")]
[assembly: ConsumesEvent(EventTypes.CommissionEarned, typeof(CommissionEarnedData), Effect = "Influencer reports: the commission counts in the month it was earned.")]
[assembly: ConsumesEvent(InfluencerEvents.CommissionClawedBack, typeof(CommissionClawedBackData), Effect = "Influencer reports: a clawback.")]

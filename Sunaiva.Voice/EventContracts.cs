using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;

// The integration events this service publishes and consumes (docs/events.md is generated from these).
[assembly: PublishesEvent(EventTypes.VoiceSessionEnded, typeof(Sunaiva.Voice.Sessions.VoiceSessionEnded), When = "A voice session ends: its resume window passed without a connection.")]
[assembly: ConsumesEvent(EventTypes.UserSignedUp, typeof(UserSignedUp), Effect = "Stores the voice chosen at signup as the user's voice preference.")]
[assembly: ConsumesEvent(EventTypes.SubscriptionActivated, typeof(Sunaiva.Voice.Entitlements.SubscriptionChangedData), Effect = "Gives the user their plan's daily cloud realtime minutes.")]
[assembly: ConsumesEvent(EventTypes.SubscriptionCanceled, typeof(Sunaiva.Voice.Entitlements.SubscriptionChangedData), Effect = "Returns the user to the free plan's daily cloud realtime minutes.")]

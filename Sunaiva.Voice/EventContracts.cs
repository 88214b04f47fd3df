using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;

// The integration events this service publishes and consumes (docs/events.md is generated from these).
[assembly: ConsumesEvent(EventTypes.UserSignedUp, typeof(UserSignedUp), Effect = "Stores the voice chosen at signup as the user's voice preference.")]

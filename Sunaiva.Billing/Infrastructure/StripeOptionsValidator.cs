using Microsoft.Extensions.Options;

namespace Sunaiva.Billing.Infrastructure;

/// <summary>
/// Validates <see cref="StripeOptions"/> with generated code (no reflection): its data annotations, then its
/// <see cref="System.ComponentModel.DataAnnotations.IValidatableObject"/> rules (keys, plans, currencies).
/// </summary>
[OptionsValidator]
public sealed partial class StripeOptionsValidator : IValidateOptions<StripeOptions>;

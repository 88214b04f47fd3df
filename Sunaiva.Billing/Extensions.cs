using Sunaiva.Billing.Referrals;
using Sunaiva.ServiceDefaults.Data;
using Sunaiva.ServiceDefaults.Events;

namespace Sunaiva.Billing;

public static class Extensions
{
    public static IHostApplicationBuilder AddBillingServices(this IHostApplicationBuilder builder)
    {
        builder.AddSunaivaDatabase(ResourceNames.BillingDb);
        builder.AddSunaivaRedis();
        builder.AddSunaivaEventBus();
        builder.Services.AddSingleton<ReferralStore>();
        builder.Services.AddEventHandler<SignupReferralHandler>();
        return builder;
    }

    public static WebApplication MapBillingApi(this WebApplication app)
    {
        app.MapReferralsApi();
        return app;
    }
}
